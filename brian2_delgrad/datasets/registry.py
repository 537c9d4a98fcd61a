"""Data sets by name or path: the one entry point, :func:`load_dataset`, for Yin-Yang, digits and users' files."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.registry import Registry
from .files import read_file
from .splits import SPLITS, check_splits, stratified_split
from .yinyang import YIN_YANG_FEATURES, yin_yang_features, yin_yang_split

__all__ = ["Dataset", "DATASETS", "register_dataset", "get_dataset", "load_dataset", "DEFAULT_FRACTIONS"]

#: Train, validation and test fractions of data without a split of their own.
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class Dataset:
    """A labelled data set: three splits of features in ``[0, 1]`` or of input spike times.

    Parameters
    ----------
    name : str
        The name that model files give as ``[data] dataset``.
    n_features : int
        Inputs per sample.
    n_classes : int
        Labels are ``0 ... n_classes - 1``.
    load : callable
        ``load(split) -> (values, labels)`` for ``split`` in ``'train'``, ``'validation'``, ``'test'``:
        ``(n, n_features)`` float64 and ``(n,)`` int64, the same on every call.
    kind : str
        ``'features'`` (values in [0, 1], encoded as spike latencies) or ``'times'`` (input spike times in
        seconds, ``inf``: silent).
    from_plane : callable or None
        For a data set that lies on the plane of its first two features (Yin-Yang, any two-feature file):
        ``from_plane(points) -> features``, ``(n, 2)`` points of ``[0, 1]^2`` to ``(n, n_features)``
        features, so that a decision map can be drawn; ``None`` otherwise.
    """

    name: str
    n_features: int
    n_classes: int
    load: object = field(repr=False)
    kind: str = "features"
    from_plane: object = field(default=None, repr=False)


#: Data sets by name (``[data] dataset`` of model files).
DATASETS = Registry("dataset", Dataset)


def register_dataset(dataset, replace=False):
    """Make a :class:`Dataset` available to model files by its name.

    Parameters
    ----------
    dataset : Dataset
        Registered as ``dataset.name``.
    replace : bool
        Replace a data set registered under that name (otherwise that is an error).
    """
    DATASETS.add(dataset, replace)


def get_dataset(name):
    """The :class:`Dataset` registered as ``name``; the error lists the registered ones."""
    return DATASETS.get_entry(name)


def load_dataset(source, fractions=DEFAULT_FRACTIONS, seed=0):
    """A data set by name (``'yin_yang'``, ``'digits'``, a registered one) or from a file.

    Parameters
    ----------
    source : str or Path
        A registered name, or a path: an ``.npz``, a ``.csv`` or a folder of MNIST IDX files
        (:mod:`~brian2_delgrad.datasets.files`).
    fractions : sequence of 3 float
        Train, validation, test fractions of a file without a ``split`` (stratified by label); for MNIST's
        folder, the train and validation fractions divide its train images.
    seed : int
        Seed of that split.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        One line naming the file and the field for any malformed file; an unknown name lists the registered ones.

    Examples
    --------
    >>> digits = load_dataset("digits")
    >>> digits.n_features, digits.n_classes, [len(digits.load(s)[1]) for s in ("train", "validation", "test")]
    (64, 10, [1078, 360, 359])
    """
    if isinstance(source, str) and source in DATASETS:
        return DATASETS[source]
    if isinstance(source, str) and not any(sep in source for sep in "/\\.") and not Path(source).exists():
        return get_dataset(source)                   # a name that is not registered: say which are
    return _file_dataset(Path(source), tuple(fractions), seed)


def _file_dataset(path, fractions, seed):
    kind, values, labels, split = read_file(path)
    if split is None:
        split = stratified_split(labels, fractions, seed)
    elif np.any(split == ""):                        # MNIST: validation cut from the train images
        split = split.astype("<U10")
        free = split == ""
        split[free] = stratified_split(labels[free], np.array(fractions[:2]) / sum(fractions[:2]), seed,
                                       names=SPLITS[:2])
    check_splits(labels, split, str(path))
    parts = {name: (values[split == name], labels[split == name]) for name in SPLITS}
    plane = _identity if kind == "features" and values.shape[1] == 2 else None
    return Dataset(path.stem, values.shape[1], int(labels.max()) + 1, lambda name: _copy(parts[name]), kind, plane)


def _identity(points):
    return np.array(points, dtype=np.float64)


def _copy(part):
    return part[0].copy(), part[1].copy()


def _digits(split):
    """scikit-learn's handwritten digits (1797 8x8 images, shipped with it): pixels / 16 in [0, 1], a fixed
    stratified 60/20/20 split (seed 0)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    values, labels = digits.data / 16.0, digits.target.astype(np.int64)
    chosen = stratified_split(labels, DEFAULT_FRACTIONS, 0) == split
    return values[chosen], labels[chosen]


register_dataset(Dataset("yin_yang", YIN_YANG_FEATURES, 3, yin_yang_split, from_plane=yin_yang_features))
register_dataset(Dataset("digits", 64, 10, _digits))
