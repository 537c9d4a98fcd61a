"""Train / validation / test splits: stratified by fractions and a seed, checked for what training needs."""
import numpy as np

from ..utils.settings import Setting

__all__ = ["SPLITS", "FRACTIONS", "stratified_split", "check_splits"]

#: The three splits, in this order.
SPLITS = ("train", "validation", "test")

#: Fractions of the samples in the train, validation and test splits of data without a split of their own.
FRACTIONS = Setting("fractions", "number", low=0, high=1, low_open=True, high_open=True,
                    doc="train, validation and test fraction (three numbers that sum to 1)")


def stratified_split(labels, fractions=(0.6, 0.2, 0.2), seed=0, names=SPLITS):
    """A split name per sample: every class divided by ``fractions``, shuffled with ``seed``.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Class of every sample.
    fractions : sequence of float
        One per name (train, validation, test); each in (0, 1), summing to 1.
    seed : int
        Seed of the shuffling.
    names : sequence of str
        The splits' names, one per fraction.

    Returns
    -------
    ndarray of str, shape (n,)
        One of ``names`` per sample (by default ``'train'``, ``'validation'`` or ``'test'``).

    Examples
    --------
    >>> stratified_split(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), seed=1).tolist().count("train")
    6
    """
    fractions = [FRACTIONS.check(f, f"fractions[{k}]") for k, f in enumerate(fractions)]
    if len(fractions) != len(names) or not np.isclose(sum(fractions), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"fractions must be {len(names)} numbers ({', '.join(names)}) that sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    split = np.empty(len(labels), dtype=object)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        ends = np.round(np.cumsum(fractions) * len(members)).astype(int)
        for name, part in zip(names, np.split(members, ends[:-1])):
            split[part] = name
    return split.astype(str)


def check_splits(labels, split, where):
    """Raise unless every split has samples and every class seen in validation or test is seen in training.

    ``where`` names the data for the message (a file, a data set).
    """
    for name in SPLITS:
        if not np.any(split == name):
            raise ValueError(f"{where}: split: the {name} split is empty")
    trained = set(np.unique(labels[split == "train"]).tolist())
    for name in SPLITS[1:]:
        unseen = sorted(set(np.unique(labels[split == name]).tolist()) - trained)
        if unseen:
            raise ValueError(f"{where}: labels: label {unseen[0]} is in the {name} split but never in train")
