"""Strict, eval-free parsing of physical quantities written in TOML files.

Model and study files are data: nothing in them is ever evaluated. A value is
either a plain TOML number (dimensionless only) or a string matching this
grammar, checked with one regular expression (``_QUANTITY``)::

    quantity := ws number [ (ws '*' ws | space+) unit ] ws
    number   := ['+' | '-'] (digits ['.' [digits]] | '.' digits) [('e' | 'E') ['+' | '-'] digits]
    unit     := one name from ``UNITS`` (no powers, products or quotients)

Examples: ``"5*ms"``, ``"0.5 * ms"``, ``"10 us"``, ``"-2.5e-3*second"``,
``"30*Hz"``, ``"1.0"`` (dimensionless). Only ASCII digits and whitespace are
accepted, and non-finite values are rejected.

>>> from brian2 import ms
>>> parse_quantity("0.5 * ms", ms, "models/x.toml: neuron.tau_s")
0.5 * msecond
>>> parse_quantity(2, None, "models/x.toml: neuron.ratio")
2.0
>>> format_quantity(5 * ms)
'5.0*ms'
"""
import math
import re

import numpy as np
from brian2 import (
    Hz, Mohm, amp, farad, get_dimensions, have_same_dimensions, kHz, mV, msecond, nA, nF, nS, nsecond, ohm, pA,
    pF, second, siemens, uS, usecond, uvolt, volt,
)

__all__ = ["QuantityError", "UNITS", "parse_quantity", "format_quantity"]

#: Unit names accepted in files -> Brian2 unit. ``format_quantity`` writes the
#: first name listed for each scale (``ms`` rather than ``msecond``).
UNITS = {
    "second": second, "ms": msecond, "msecond": msecond, "us": usecond, "usecond": usecond,
    "ns": nsecond, "nsecond": nsecond,
    "Hz": Hz, "kHz": kHz,
    "volt": volt, "mV": mV, "uV": uvolt,
    "amp": amp, "nA": nA, "pA": pA,
    "ohm": ohm, "Mohm": Mohm,
    "farad": farad, "nF": nF, "pF": pF,
    "siemens": siemens, "nS": nS, "uS": uS,
}

# Names and examples of the dimensions the whitelist covers: (unit, name, example).
_KINDS = (
    (second, "time", "5*ms"),
    (Hz, "frequency", "30*Hz"),
    (volt, "voltage", "-70*mV"),
    (amp, "current", "1*nA"),
    (ohm, "resistance", "100*Mohm"),
    (farad, "capacitance", "200*pF"),
    (siemens, "conductance", "10*nS"),
)

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_QUANTITY = re.compile(
    rf"\s*(?P<number>{_NUMBER})(?:(?:\s*\*\s*|\s+)(?P<unit>[A-Za-z_][A-Za-z0-9_]*))?\s*", re.ASCII)
_NON_FINITE = re.compile(r"\s*[+-]?(?:inf|infinity|nan)\s*", re.ASCII | re.IGNORECASE)
_FORM = "a number, optionally followed by '*' (or a space) and one unit name"


class QuantityError(ValueError):
    """A value in a model or study file is not an allowed number or quantity."""


def parse_quantity(value, dimension, where):
    """Parse a number or a quantity string strictly, without evaluating anything.

    Parameters
    ----------
    value : str, int or float
        The value read from TOML. Plain numbers (and number strings such as
        ``"1.5"``) are allowed only when ``dimension`` is dimensionless; a
        string such as ``"5*ms"`` gives a Brian2 quantity. Booleans are rejected.
    dimension : brian2 unit, quantity, Dimension or None
        The required physical dimension, e.g. ``brian2.ms`` for a time; None
        (or a dimensionless value) for a plain number.
    where : str
        Prefix of error messages, e.g. ``"models/x.toml: neuron.tau_m"``.

    Returns
    -------
    brian2.Quantity or float
        A quantity with a float value, or a float if dimensionless.

    Raises
    ------
    QuantityError
        With a message ``f"{where}: ..."`` saying what is wrong and what is allowed.

    Examples
    --------
    >>> from brian2 import ms
    >>> parse_quantity("10 us", ms, "study.toml: dt")
    10. * usecond
    >>> parse_quantity("5*mV", ms, "models/x.toml: neuron.tau_m")
    Traceback (most recent call last):
    ...
    brian2_delgrad.files.quantities.QuantityError: models/x.toml: neuron.tau_m: expected a time such as '5*ms', got '5*mV' (a voltage)
    """
    dim = _dimension_of(dimension)
    expected = _expected(dim)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError(f"{where}: not a number or quantity: {_show(value)} (a {type(value).__name__}); "
                            f"expected {expected}, written as {_FORM}")
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value)
        if match is None:
            if _NON_FINITE.fullmatch(value):
                raise QuantityError(f"{where}: {_show(value)} is not finite; expected {expected}")
            raise QuantityError(f"{where}: not a number or quantity: {_show(value)}; expected {expected}, "
                                f"written as {_FORM}")
        number_text, unit_name = match["number"], match["unit"]
        number = float(number_text)  # ASCII digits only: float() cannot see anything but a number here
    else:
        number_text, unit_name = repr(value), None
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    if not math.isfinite(number):
        raise QuantityError(f"{where}: {_show(value)} is not finite; expected {expected}")

    if unit_name is None:
        if not dim.is_dimensionless:
            unit_names = _units_of(dim)
            hint = (f"write '{number_text}*{_example_unit(dim)}'" if unit_names
                    else f"no allowed unit has dimension {dim}")
            raise QuantityError(f"{where}: expected {expected}, got {_show(value)}, a plain number: "
                                f"a unit is required ({hint})")
        return number

    unit = UNITS.get(unit_name)
    if unit is None:
        if dim.is_dimensionless:
            allowed = "no unit is allowed here"
        else:
            unit_names = _units_of(dim)
            allowed = (f"allowed units for {_describe(dim)}: {', '.join(unit_names)}" if unit_names
                       else f"no allowed unit has dimension {dim}; allowed units: {', '.join(UNITS)}")
        raise QuantityError(f"{where}: unknown unit {unit_name!r} in {_show(value)}; {allowed}")
    if not have_same_dimensions(unit, dim):
        raise QuantityError(f"{where}: expected {expected}, got {_show(value)} ({_describe(get_dimensions(unit))})")
    if not math.isfinite(number * float(unit)):
        raise QuantityError(f"{where}: {_show(value)} is not finite in SI units; expected {expected}")
    return number * unit


def format_quantity(q):
    """Write a quantity or number as a string that `parse_quantity` reads back exactly.

    The unit is the largest whitelisted unit in which the magnitude is at least
    1 (so the number lies in [1, 1000) when such a unit exists), else the
    smallest one; zero is written in the SI unit. The number is the
    ``repr`` of the shortest float in that unit whose product with the unit
    gives back exactly the same SI float; if there is none, the value is
    written as ``repr`` of the SI float in the SI unit (``second``, ``Hz``, ...).

    Parameters
    ----------
    q : brian2.Quantity, float or int
        A scalar. Dimensionless values are written as ``repr(float(q))``.

    Returns
    -------
    str
        E.g. ``'5.0*ms'`` for ``5*ms``.

    Raises
    ------
    QuantityError
        For booleans, non-scalars, non-finite values or dimensions no
        whitelisted unit has.

    Examples
    --------
    >>> from brian2 import ms, nA
    >>> format_quantity(5 * ms), format_quantity(-3 * nA), format_quantity(1e-9 * ms)
    ('5.0*ms', '-3.0*nA', '0.001*ns')
    """
    if isinstance(q, bool) or np.ndim(q) != 0:
        raise QuantityError(f"format_quantity: expected a scalar number or quantity, got {_show(q)}")
    dim = get_dimensions(q)
    si = float(np.asarray(q))
    if not math.isfinite(si):
        raise QuantityError(f"format_quantity: {_show(q)} is not finite")
    if dim.is_dimensionless:
        return repr(si)
    units = sorted({float(UNITS[name]): name for name in reversed(_units_of(dim))}.items())
    base = [name for scale, name in units if scale == 1.0]
    if not base:
        raise QuantityError(f"format_quantity: no allowed unit has dimension {dim}")
    scale, name = next(((s, n) for s, n in reversed(units) if abs(si) >= s), units[0])
    if si != 0:
        value = si / scale
        for digits in range(1, 18):  # the shortest text that round-trips; 17 digits always reproduce ``value``
            rounded = float(f"{value:.{digits}g}")
            text = f"{rounded!r}*{name}"
            if math.isfinite(rounded * scale) and float(parse_quantity(text, dim, "format_quantity")) == si:
                return text
    return f"{si!r}*{base[0]}"


def _dimension_of(dimension):
    """The Brian2 Dimension meant by a unit, quantity, Dimension or None."""
    return get_dimensions(1.0 if dimension is None else dimension)


def _units_of(dim):
    """Names of the whitelisted units of dimension ``dim``, in ``UNITS`` order."""
    return [name for name, unit in UNITS.items() if have_same_dimensions(unit, dim)]


def _kind(dim):
    """The ``_KINDS`` entry of ``dim``, or None."""
    return next((kind for kind in _KINDS if have_same_dimensions(kind[0], dim)), None)


def _describe(dim):
    """E.g. 'a time', 'a plain number' or 'a quantity of dimension m'."""
    if dim.is_dimensionless:
        return "a plain number"
    kind = _kind(dim)
    return f"a {kind[1]}" if kind else f"a quantity of dimension {dim}"


def _expected(dim):
    """E.g. "a time such as '5*ms'"."""
    if dim.is_dimensionless:
        return "a plain number such as '1.5' (no unit)"
    kind = _kind(dim)
    return f"a {kind[1]} such as '{kind[2]}'" if kind else _describe(dim)


def _example_unit(dim):
    """The unit of the example of ``dim`` (e.g. 'ms'), else its first whitelisted unit."""
    kind = _kind(dim)
    return kind[2].split("*")[1] if kind else _units_of(dim)[0]


def _show(value, limit=80):
    """``repr(value)``, shortened for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
