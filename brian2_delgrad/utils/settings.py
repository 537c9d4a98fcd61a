"""Settings declared once: name, kind, range and unit, checked by one function for Python and TOML alike.

A configurable class lists its settings as :class:`Setting` records. Its
constructor checks the arguments with :func:`check_settings`; the TOML
loaders read the same records with
:meth:`Section.setting <brian2_delgrad.files.toml.Section.setting>`, so a value
is accepted by a model file exactly when the Python API accepts it. Errors
name the argument (``lr_decay must be in (0, 1], got 1.5``) or the file and
field (``model.toml: training.lr_decay: must be in (0, 1], got 1.5``).
"""
import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np
from brian2 import Quantity, second
from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

__all__ = ["Setting", "check_settings", "takes_settings", "KINDS"]

#: The kinds of setting: what a value must be before its range is checked.
KINDS = ("integer", "number", "boolean", "choice", "time", "time_range")


@dataclass(frozen=True)
class Setting:
    """One configurable value.

    Parameters
    ----------
    name : str
    kind : str
        One of :data:`KINDS`: ``'integer'``, ``'number'`` (a real, finite,
        dimensionless number), ``'boolean'``, ``'choice'`` (one of
        ``choices``), ``'time'`` (a Brian2 time, or a float in seconds; in a
        file a quantity string such as ``"5*ms"``), ``'time_range'`` (two
        times ``(low, high)`` with ``low < high``; in a file a list of two
        quantity strings).
    low, high : float, optional
        Bounds of an integer, a number or a time (seconds; for a time range,
        of ``low``).
    low_open, high_open : bool
        Whether the bound itself is excluded.
    choices : tuple or callable, optional
        The allowed values of a choice, or a function returning them (a
        registry that may grow).
    optional : bool
        ``None`` is allowed (meaning "not used" or "the default").
    unit : str
        Unit of a plain number, for documentation (``'tau_s'``, ``'theta'``, ``'1'``).
    doc : str
        One line for documentation.
    default : object
        The value when none is given, for the Python API and model files
        alike (``...``: a value must be given). A function's parameters take
        it through :func:`takes_settings`.
    """

    name: str
    kind: str
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    choices: object = None
    optional: bool = False
    unit: str = ""
    doc: str = ""
    default: object = ...

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Setting {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    def with_default(self, default):
        """This setting with another default (a shared setting whose users differ, e.g. ``batch_size``)."""
        return dataclasses.replace(self, default=default)

    def allowed(self):
        """The allowed choices (tuple), for a choice."""
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def check(self, value, name=None):
        """``value`` in canonical form (int, float, float seconds, bool, ``(low, high)`` seconds), or a ``ValueError``
        whose message starts with ``name`` (default: the setting's name)."""
        problem, result = self.inspect(value)
        if problem is not None:
            raise ValueError(f"{name or self.name} {problem}")
        return result

    def inspect(self, value):
        """``(problem, canonical value)``: ``problem`` is ``None`` or what is wrong (``'must be ..., got ...'``)."""
        if value is None:
            return (None, None) if self.optional else (f"must be given ({self.describe()}), got None", None)
        return _KIND_CHECKS[self.kind](self, value)

    def describe(self):
        """What is allowed, in words (str)."""
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.allowed()))
        if self.kind == "boolean":
            return "True or False"
        if self.kind == "time_range":
            what = "two times (low, high) such as (0*ms, 5*ms) with low < high" + (
                f" and low {self._range()} s" if self._range() else "")
        else:
            what = f"{dict(integer='an integer', number='a number', time='a time such as 5*ms')[self.kind]} " \
                   f"{self._range()}{' s' if self.kind == 'time' and self._range() else ''}".strip()
        return what + (" or None" if self.optional else "")

    def _range(self):
        low, high = self.low, self.high
        if low is None and high is None:
            return ""
        if high is None:
            return "> 0" if (low == 0 and self.low_open) else f"{'>' if self.low_open else '>='} {low:g}"
        if low is None:
            return f"{'<' if self.high_open else '<='} {high:g}"
        return f"in {'(' if self.low_open else '['}{low:g}, {high:g}{')' if self.high_open else ']'}"

    def _bounded(self, number, shown):
        """``(problem, number)`` for the bounds of a number (seconds for a time)."""
        too_low = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        too_high = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if too_low or too_high:
            if self.low == 0 and self.low_open and self.high is None:
                return f"must be positive, got {shown}", None
            return f"must be {self._range()}{' s' if self.kind in ('time', 'time_range') else ''}, got {shown}", None
        return None, number


def _integer(setting, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        return f"must be an integer, got {_shown(value)}", None
    return setting._bounded(int(value), repr(int(value)))


def _number(setting, value):
    if isinstance(value, Quantity) and get_dimensions(value) is DIMENSIONLESS and np.ndim(value) == 0:
        value = float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        return f"must be a number, got {_shown(value)}", None
    if not np.isfinite(value):
        return f"must be finite, got {value!r}", None
    return setting._bounded(float(value), repr(float(value)))


def _boolean(setting, value):
    if not isinstance(value, (bool, np.bool_)):
        return f"must be True or False, got {_shown(value)}", None
    return None, bool(value)


def _choice(setting, value):
    allowed = setting.allowed()
    if not isinstance(value, str) or value not in allowed:
        return f"must be {setting.describe()}, got {value!r}", None
    return None, value


def _time(setting, value):
    if isinstance(value, Quantity):
        if get_dimensions(value) != second.dim or np.ndim(value) != 0:
            return f"must be a time such as 5*ms, got {value!r}", None
        value = float(value / second)
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        return f"must be a time such as 5*ms, got {_shown(value)}", None
    if not np.isfinite(value):
        return f"must be finite, got {value!r}", None
    return setting._bounded(float(value), f"{float(value):g} s")


def _time_range(setting, value):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return f"must be {setting.describe()}, got {_shown(value)}", None
    ends = []
    for end in value:
        problem, seconds = _time(setting, end)
        if problem is not None:
            return problem, None
        ends.append(seconds)
    if not ends[0] < ends[1]:
        return f"must have low < high, got ({ends[0]:g}, {ends[1]:g}) s", None
    return None, tuple(ends)


_KIND_CHECKS = dict(integer=_integer, number=_number, boolean=_boolean, choice=_choice, time=_time,
                    time_range=_time_range)


def _shown(value):
    """A value for a message: short, with its type when that is the problem."""
    kinds = {dict: "a table", list: "a list", str: "a string", bool: "a boolean", type(None): "None"}
    return f"{kinds[type(value)]} {value!r}" if type(value) in kinds else repr(value)


def takes_settings(*settings):
    """Give a function's parameters written ``name=...`` the default of the setting of that name.

    The ``def`` names the parameters; their defaults live in one place, the
    :class:`Setting`, and the signature (``help``, ``inspect``, the API
    pages) shows the values.

    Parameters
    ----------
    *settings : Setting or sequence of Setting

    Examples
    --------
    >>> RATE = Setting("rate", "number", low=0, default=0.5)
    >>> @takes_settings(RATE)
    ... def train(data, rate=...):
    ...     return rate
    >>> train([])
    0.5
    """
    declared = {setting.name: setting for group in settings
                for setting in (group if isinstance(group, (tuple, list)) else (group,))}

    def default(function, name, value):
        if value is not ...:
            return value
        if name not in declared or declared[name].default is ...:
            raise TypeError(f"{function.__qualname__}: {name}=... names no setting with a default")
        return declared[name].default

    def decorate(function):
        code = function.__code__
        if function.__defaults__:
            names = code.co_varnames[:code.co_argcount][-len(function.__defaults__):]
            function.__defaults__ = tuple(default(function, n, v) for n, v in zip(names, function.__defaults__))
        if function.__kwdefaults__:
            function.__kwdefaults__ = {n: default(function, n, v) for n, v in function.__kwdefaults__.items()}
        return function

    return decorate


def check_settings(settings, values, where=""):
    """Check ``values`` (name -> value) against their declarations: the one check of a configurable's settings.

    Parameters
    ----------
    settings : sequence of Setting
    values : dict
        Must hold a value for every setting (extra entries are ignored):
        a constructor passes ``locals()``, a dataclass ``vars(self)``.
    where : str
        Starts every message (``'TTFSCrossEntropy: '``).

    Returns
    -------
    dict
        Name -> canonical value, in the order of ``settings``.
    """
    return {setting.name: setting.check(values[setting.name], f"{where}{setting.name}") for setting in settings}
