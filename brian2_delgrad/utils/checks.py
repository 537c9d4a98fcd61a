"""Validation of user input at the API edge: units, finiteness, shapes.

Every check raises a ``ValueError`` that names the offending argument and says
what is allowed; nothing is silently broadcast or converted.
"""

import numpy as np
from brian2 import Quantity, second
from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

__all__ = ["positive_time", "times_in_seconds", "float_array", "seed_value",
           "labels_array"]


def _as_seconds(value, name):
    """Strip the unit of a Brian2 time quantity; plain numbers are taken as seconds."""
    if isinstance(value, Quantity):
        if get_dimensions(value) != second.dim:
            raise ValueError(f"{name} must be a time (e.g. 5*ms), got {value!r}")
        value = value / second
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a time or an array of times, got {value!r}") from None


def positive_time(value, name):
    """Return a positive, finite time as float seconds.

    Parameters
    ----------
    value : Quantity or float
        A Brian2 time quantity such as ``5*ms``, or a float in seconds.
    name : str
        The argument's name, used in the error message.
    """
    seconds = _as_seconds(value, name)
    if seconds.ndim != 0 or not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a finite positive time, got {value!r}")
    return float(seconds)


def _dimensionless(value, name):
    """Raise unless ``value`` (or each item of a list or tuple) is free of Brian2 units."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(item, Quantity) and get_dimensions(item) is not DIMENSIONLESS for item in items):
        raise ValueError(f"{name} must be dimensionless (plain numbers), got a quantity with units")


def float_array(value, name, shape, *, allow_inf=False, minimum=None):
    """Return ``value`` as a float64 array of exactly ``shape``.

    Parameters
    ----------
    value : array_like
        The values; a Brian2 quantity must be dimensionless.
    name : str
        The argument's name, used in error messages.
    shape : tuple of int or None
        The required shape; ``None`` entries accept any length on that axis.
    allow_inf : bool
        Whether ``+inf`` is allowed (it means "no spike" for spike times).
    minimum : float, optional
        Smallest allowed value.
    """
    _dimensionless(value, name)
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    return _check_array(array, name, shape, allow_inf, minimum)


def times_in_seconds(value, name, shape, *, allow_inf=False, minimum=None):
    """Return times (Brian2 quantity or float seconds) as a float64 array in seconds.

    Parameters are those of :func:`float_array`; a quantity must have the
    dimension of time.
    """
    return _check_array(_as_seconds(value, name), name, shape, allow_inf, minimum)


def _check_array(array, name, shape, allow_inf, minimum):
    if shape is not None:
        if array.ndim != len(shape) or any(
            want is not None and want != got for want, got in zip(shape, array.shape)
        ):
            wanted = ", ".join("any" if s is None else str(s) for s in shape)
            wanted = f"({wanted},)" if len(shape) == 1 else f"({wanted})"      # as NumPy writes shapes
            raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    if array.size == 0:
        return array
    low, high = array.min(), array.max()             # NaN wins both: two passes check everything
    if np.isnan(low):
        raise ValueError(f"{name} contains NaN")
    if low == -np.inf or (high == np.inf and not allow_inf):
        allowed = "+inf (no spike) is the only infinite value allowed" if allow_inf else "values must be finite"
        raise ValueError(f"{name} contains an infinite value: {allowed}")
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got a minimum of {low}")
    return array


def seed_value(value, name, generator=False):
    """Return a seed numpy accepts (``None``, a non-negative int or a sequence of them, a ``SeedSequence``;
    with ``generator`` also a ``numpy.random.Generator``); numpy integers become ints."""
    if value is None or isinstance(value, np.random.SeedSequence) or (
            generator and isinstance(value, np.random.Generator)):
        return value
    if isinstance(value, (bool, np.bool_, str, float, np.floating)):
        raise ValueError(f"{name} must be None, a non-negative integer or a sequence of them, got {value!r}")
    try:
        np.random.SeedSequence(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None, a non-negative integer or a sequence of them, got {value!r}") from None
    return int(value) if isinstance(value, (int, np.integer)) else value


def labels_array(value, name, n_samples, n_classes):
    """Return class labels as an int64 array of shape ``(n_samples,)`` with values in ``[0, n_classes)``."""
    labels = np.asarray(value)
    if labels.shape != (n_samples,) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"{name} must be integer labels of shape ({n_samples},), got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}]")
    return labels.astype(np.int64, copy=False)
