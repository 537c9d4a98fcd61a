"""The Yin-Yang data set (Kriener et al., 2022), generated bit for bit as published.

The Yin-Yang data set (Kriener et al., 2022) is a small two-dimensional
classification problem with three classes: points ``(x, y)`` of the unit square
that lie in the disc of radius 0.5 around ``(0.5, 0.5)`` are classified as
"yin" (0), "yang" (1) or "dot" (2).  With ``d_r`` and ``d_l`` the distances of
the point to the dot centres ``(0.75, 0.5)`` and ``(0.25, 0.5)``:

* class 2 if ``d_r < 0.1`` or ``d_l < 0.1``;
* else class 1 if ``d_r <= 0.1`` or ``0.1 < d_l <= 0.25`` or
  (``y > 0.5`` and ``d_r > 0.25``);
* else class 0.

Generator
---------
One ``numpy.random.RandomState(seed)`` drives a whole split, sample by sample:

1. the goal class is drawn with ``rng.randint(3)``;
2. a candidate point is drawn with ``x, y = rng.rand(2)`` (``x`` first; this
   is the same stream as two ``rng.rand()`` calls, and the published generator's
   scaling by ``2 * 0.5`` is exactly 1);
3. the candidate is rejected if its distance ``sqrt((x-0.5)**2 + (y-0.5)**2)``
   to the centre exceeds 0.5 (``<= 0.5`` is inside; ``< 0.5`` gives the same
   published splits), or if its class is not the goal class; step 2 is then
   repeated.

The features are ``(x, y, 1-x, 1-y)``.  :func:`yin_yang` reads the generator's stream in blocks and judges
the candidates of a block at once, with the same numbers as these calls (the three splits in about 0.1 s
instead of 0.45 s).  This reproduces the published splits
(:data:`YIN_YANG_SPLITS`) bit for bit, e.g. the class counts
``[1681, 1702, 1617]`` of the training split.  The draw order (goal class
before points, ``x`` before ``y``) and the circle test change the data; ``<``
versus ``<=`` in the comparisons only matters on exact ties, which do not occur
in the published splits.
"""
import numbers

import numpy as np

from ..utils.checks import float_array

__all__ = ["YIN_YANG_FEATURES", "YIN_YANG_SPLITS", "yin_yang", "yin_yang_split", "yin_yang_class", "yin_yang_features"]

#: The published splits: name -> (number of samples, seed).
YIN_YANG_SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}
#: Features per Yin-Yang sample: (x, y, 1 - x, 1 - y).
YIN_YANG_FEATURES = 4

_CENTRE = 0.5
_RADIUS = 0.5
_DOT_RADIUS = 0.1
_YIN_RADIUS = 0.25
_RIGHT_DOT = 0.75
_LEFT_DOT = 0.25


def yin_yang(n_samples, seed):
    """Generate Yin-Yang samples by rejection sampling (see the module docstring).

    The generator is sequential: ``yin_yang(n, seed)`` is the first ``n``
    samples of ``yin_yang(m, seed)`` for any ``m >= n``.

    Parameters
    ----------
    n_samples : int
        Number of samples, ``>= 0`` (0 gives empty arrays).
    seed : int
        Seed of the ``numpy.random.RandomState``, in ``[0, 2**32)``.

    Returns
    -------
    features : ndarray of float64, shape (n_samples, 4)
        Columns ``(x, y, 1-x, 1-y)``, dimensionless, in ``[0, 1]``.
    labels : ndarray of int64, shape (n_samples,)
        Class of each sample: 0 (yin), 1 (yang) or 2 (dot).

    Examples
    --------
    >>> features, labels = yin_yang(2, 42)
    >>> features.round(5)
    array([[0.68031, 0.4505 , 0.31969, 0.5495 ],
           [0.09767, 0.68423, 0.90233, 0.31577]])
    >>> labels
    array([2, 1])
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
        raise ValueError(f"n_samples must be a non-negative int, got {n_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    stream = _WordStream(np.random.RandomState(seed), 24 * n_samples)
    points = np.empty((n_samples, 2))
    labels = np.empty(n_samples, dtype=np.int64)
    p = 0                                               # the next word of the stream
    for i in range(n_samples):
        while stream.word(p) & 3 == 3:                  # rng.randint(3): a word's two low bits, 3 rejected
            p += 1
        goal = stream.word(p) & 3
        p += 1
        while not stream.accepted(p, goal):             # rng.rand(2): a candidate takes four words
            p += 4
        points[i] = stream.coordinate(p), stream.coordinate(p + 2)
        labels[i] = goal
        p += 4
    return yin_yang_features(points), labels


class _WordStream:
    """The 32-bit words of a ``RandomState`` (MT19937) as its legacy ``randint(3)`` and ``rand`` consume them,
    drawn in blocks; every candidate point of the rejection sampler judged at once per block.

    ``randint(3)`` takes one word per try (its low two bits, 3 rejected); ``rand()`` takes two, ``a`` and ``b``,
    and gives ``((a >> 5) * 2**26 + (b >> 6)) / 2**53``. A candidate ``(x, y)`` starting at word ``p`` is thus
    ``coordinate(p), coordinate(p + 2)``: the same numbers as the sequential generator, bit for bit, at a
    fraction of its cost (a Python loop over precomputed lists instead of NumPy calls per candidate).
    """

    def __init__(self, rng, size):
        self._rng, self._size = rng, max(int(size), 64)
        self._words, self._coordinates, self._classes = [], [], []
        self._extend()

    def _extend(self):
        new = self._rng.randint(0, 2**32, size=self._size, dtype=np.uint32).astype(np.uint64)
        words = np.concatenate([np.array(self._words, dtype=np.uint64), new])
        coordinates = ((words[:-1] >> 5) * 67108864.0 + (words[1:] >> 6)) / 9007199254740992.0
        x, y = coordinates[:-2], coordinates[2:]
        inside = np.sqrt((x - _CENTRE) ** 2 + (y - _CENTRE) ** 2) <= _RADIUS
        self._words = words.tolist()
        self._coordinates = coordinates.tolist()
        self._classes = np.where(inside, _classify(x, y), -1).tolist()     # -1: outside the disc

    def word(self, p):
        while p >= len(self._classes):
            self._extend()
        return self._words[p]

    def accepted(self, p, goal):
        while p >= len(self._classes):
            self._extend()
        return self._classes[p] == goal

    def coordinate(self, p):
        return self._coordinates[p]


def yin_yang_features(points):
    """The features ``(x, y, 1-x, 1-y)`` of points ``(x, y)``.

    Parameters
    ----------
    points : array_like of float, shape (n, 2)

    Returns
    -------
    ndarray of float64, shape (n, 4)
    """
    points = float_array(points, "points", (None, 2))
    return np.hstack([points, 1 - points])


def yin_yang_split(split):
    """Return a published split, ``yin_yang(*YIN_YANG_SPLITS[split])``.

    Parameters
    ----------
    split : {'train', 'validation', 'test'}
        The split's name: 5000 samples with seed 42, 1000 with seed 41 and 1000
        with seed 40.

    Returns
    -------
    features : ndarray of float64, shape (n_samples, 4)
        Columns ``(x, y, 1-x, 1-y)``.
    labels : ndarray of int64, shape (n_samples,)
        Classes in ``{0, 1, 2}``.
    """
    if not isinstance(split, str) or split not in YIN_YANG_SPLITS:
        raise ValueError(f"split must be one of {sorted(YIN_YANG_SPLITS)}, got {split!r}")
    return yin_yang(*YIN_YANG_SPLITS[split])


def yin_yang_class(x, y):
    """Class of points of the Yin-Yang disc.

    Parameters
    ----------
    x, y : array_like of float
        Coordinates, broadcast together.  The classes are only meaningful for
        points inside the disc of radius 0.5 around ``(0.5, 0.5)``; points
        outside are classified by the same rules without a check.

    Returns
    -------
    ndarray of int64, broadcast shape of ``x`` and ``y``
        0 (yin), 1 (yang) or 2 (dot).

    Examples
    --------
    >>> yin_yang_class([0.75, 0.25, 0.5], [0.5, 0.5, 0.9])
    array([2, 2, 1])
    """
    x = float_array(x, "x", None)
    y = float_array(y, "y", None)
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        raise ValueError(f"x and y must broadcast together, got shapes {x.shape} and {y.shape}") from None
    return _classify(x, y)


def _classify(x, y):
    """Yin-Yang class of points (float scalars or arrays), without input checks."""
    d_right = np.sqrt((x - _RIGHT_DOT) ** 2 + (y - _CENTRE) ** 2)
    d_left = np.sqrt((x - _LEFT_DOT) ** 2 + (y - _CENTRE) ** 2)
    dot = (d_right < _DOT_RADIUS) | (d_left < _DOT_RADIUS)
    yang = (
        (d_right <= _DOT_RADIUS)
        | ((d_left > _DOT_RADIUS) & (d_left <= _YIN_RADIUS))
        | ((y > _CENTRE) & (d_right > _YIN_RADIUS))
    )
    return np.where(dot, 2, yang).astype(np.int64)
