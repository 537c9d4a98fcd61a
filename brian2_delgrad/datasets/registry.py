"""Data sets by name or path: the one entry point, :func:`load_dataset`, for Yin-Yang, digits, (Fashion-)MNIST and
users' files."""
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.registry import Registry
from .files import read_file
from .splits import SPLITS, check_splits, stratified_split
from .yinyang import YIN_YANG_FEATURES, yin_yang_features, yin_yang_split

__all__ = ["Dataset", "DATASETS", "register_dataset", "get_dataset", "load_dataset", "DEFAULT_FRACTIONS",
           "DATA_FOLDER_VARIABLE", "IDX_DATASETS", "idx_folder"]

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
    image_shape : tuple of int or None
        ``(rows, columns)`` where the features are the pixels of an image in row-major order (digits
        ``(8, 8)``, Fashion-MNIST ``(28, 28)``): ``brian2-delgrad plot`` then draws the first layer's weights and
        delays as images.
    class_names : tuple of str or None
        A name per class, for figures (default: the class numbers).
    """

    name: str
    n_features: int
    n_classes: int
    load: object = field(repr=False)
    kind: str = "features"
    from_plane: object = field(default=None, repr=False)
    image_shape: tuple = None
    class_names: tuple = None


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
        One line naming the file and the field for any malformed file; an unknown name lists the registered ones;
        for ``'fashion_mnist'`` and ``'mnist'`` without their files, where they were looked for and how to get them
        (:func:`idx_folder`).

    Examples
    --------
    >>> digits = load_dataset("digits")
    >>> digits.n_features, digits.n_classes, [len(digits.load(s)[1]) for s in ("train", "validation", "test")]
    (64, 10, [1078, 360, 359])
    """
    if isinstance(source, str) and source in DATASETS:
        if source in IDX_DATASETS:
            idx_folder(source)                       # missing files: said now, not when a split is read
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


#: The environment variable naming a folder that holds data sets' folders (``fashion-mnist``, ``mnist``).
DATA_FOLDER_VARIABLE = "BRIAN2_DELGRAD_DATASETS"
#: The system's folder of data sets (Debian's ``dataset-*`` packages install there).
SYSTEM_DATA_FOLDER = Path("/usr/share/datasets")
#: The MNIST-format data sets by name (read from their files on this machine): their folder's name and how to
#: get them.
IDX_DATASETS = {
    "fashion_mnist": ("fashion-mnist", "apt-get install dataset-fashion-mnist (Debian, Ubuntu), or download the four "
                                       "files of github.com/zalandoresearch/fashion-mnist"),
    "mnist": ("mnist", "download the four IDX files of MNIST"),
}


def idx_folder(name):
    """The folder that holds the IDX files of the MNIST-format data set ``name``.

    Looked for as ``$BRIAN2_DELGRAD_DATASETS/<folder>`` (where the variable is set), then in the system's
    ``/usr/share/datasets/<folder>`` (``fashion-mnist`` for ``'fashion_mnist'``, ``mnist`` for ``'mnist'``).

    Raises
    ------
    ValueError
        One line, if neither holds the training images: where it looked and how to get the files.
    """
    folder_name, how = IDX_DATASETS[name]
    places = ([Path(os.environ[DATA_FOLDER_VARIABLE]) / folder_name] if os.environ.get(DATA_FOLDER_VARIABLE) else []) \
        + [SYSTEM_DATA_FOLDER / folder_name]
    for place in places:
        if any((place / stem).is_file() for stem in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")):
            return place
    raise ValueError(f"dataset {name!r}: its IDX files are not in {' or '.join(map(str, places))}; {how}, and put "
                     f"them in $%s/{folder_name} or give their folder as [data] dataset = \"FOLDER\""
                     % DATA_FOLDER_VARIABLE)


@functools.lru_cache(maxsize=2)
def _idx_splits(name):
    """The splits of an MNIST-format data set, read once per process: its 60 000 training images cut 3 : 1 into
    train and validation (stratified, seed 0), its 10 000 test images the test split."""
    folder = idx_folder(name)
    dataset = _file_dataset(folder, DEFAULT_FRACTIONS, 0)
    if dataset.n_features != 784 or dataset.n_classes > 10:
        raise ValueError(f"dataset {name!r}: {folder} holds {dataset.n_features} pixels per image and "
                         f"{dataset.n_classes} classes; 28x28 images of 10 classes expected")
    return {split: dataset.load(split) for split in SPLITS}


def _idx_loader(name):
    return lambda split: _copy(_idx_splits(name)[split])


register_dataset(Dataset("yin_yang", YIN_YANG_FEATURES, 3, yin_yang_split, from_plane=yin_yang_features))
register_dataset(Dataset("digits", 64, 10, _digits, image_shape=(8, 8)))
register_dataset(Dataset("fashion_mnist", 784, 10, _idx_loader("fashion_mnist"), image_shape=(28, 28),
                         class_names=("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                                      "sneaker", "bag", "ankle boot")))
register_dataset(Dataset("mnist", 784, 10, _idx_loader("mnist"), image_shape=(28, 28)))
