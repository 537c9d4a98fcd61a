"""Strict reading of TOML description files (models, studies): data, never code.

Every problem is a :class:`ConfigError` whose message starts with
``FILE: section.key:`` and says what is allowed. Quantities such as
``"5*ms"`` go through :func:`~brian2_delgrad.quantities.parse_quantity`,
which parses and never evaluates.
"""
import numbers
import tomllib
from pathlib import Path

from brian2 import second

from .quantities import QuantityError, parse_quantity

__all__ = ["ConfigError", "Section", "read_toml"]


class ConfigError(ValueError):
    """A description file is wrong; the message names the file and the field."""


def read_toml(path):
    """Parse a TOML file into a :class:`Section` for its top level."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return Section(data, str(path), "")


class Section:
    """One table of a TOML file, read key by key; :meth:`done` rejects keys nobody asked for.

    Parameters
    ----------
    data : dict
    file : str
        File name for messages.
    name : str
        Dotted name of the table ('' for the top level).
    """

    def __init__(self, data, file, name):
        self.data, self.file, self.name = data, file, name
        self._read = set()

    def where(self, key=None):
        """``FILE: section.key`` for messages."""
        field = ".".join(part for part in (self.name, key) if part)
        return f"{self.file}: {field}" if field else self.file

    def error(self, key, message):
        """A :class:`ConfigError` about ``key``."""
        return ConfigError(f"{self.where(key)}: {message}")

    def has(self, key):
        return key in self.data

    def raw(self, key, default=...):
        self._read.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing")
            return default
        return self.data[key]

    def section(self, key, required=True):
        """A sub-table; an empty one if it is optional and absent."""
        if required and key not in self.data:
            self._read.add(key)
            raise self.error(key, f"missing table [{'.'.join(p for p in (self.name, key) if p)}]")
        value = self.raw(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table [{self.where(key).split(': ')[-1]}], got {_kind(value)}")
        return Section(value, self.file, ".".join(p for p in (self.name, key) if p))

    def string(self, key, default=..., choices=None):
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def boolean(self, key, default=...):
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_kind(value)}")
        return value

    def number(self, key, default=..., minimum=None, maximum=None, positive=False, integer=False):
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        return self.check_number(key, value, minimum, maximum, positive, integer)

    def check_number(self, key, value, minimum=None, maximum=None, positive=False, integer=False):
        wanted = int if integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise self.error(key, f"must be {'an integer' if integer else 'a number'}, got {_kind(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(key, f"must be finite, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"must be positive, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum}, got {value!r}")
        return int(value) if integer else float(value)

    def quantity(self, key, dimension, default=..., positive=False, value=...):
        """A quantity string such as ``"5*ms"`` with the dimension of ``dimension`` (a Brian2 unit)."""
        value = self.raw(key, default) if value is ... else value
        try:
            result = parse_quantity(value, dimension, self.where(key))
        except QuantityError as err:
            raise ConfigError(str(err)) from None
        if positive and not float(result) > 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return result

    def setting(self, setting, default=..., key=None):
        """The value of a declared :class:`~brian2_delgrad.settings.Setting`, checked exactly as the Python API checks it.

        Times are written as quantity strings (``"5*ms"``), a time range as a
        list of two. Absent and ``default`` given: ``default`` (unchecked).
        Returns the canonical value (float seconds for times).
        """
        key = key or setting.name
        if key not in self.data and default is not ...:
            self._read.add(key)
            return default
        value = self.raw(key)
        if setting.kind == "time":
            value = self.quantity(key, second, value=value)
        elif setting.kind == "time_range":
            value = [self.quantity(key, second, value=v) for v in self.list(key, length=2)]
        problem, result = setting.inspect(value)
        if problem is not None:
            raise self.error(key, problem)
        return result

    def list(self, key, default=..., length=None):
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, got {_kind(value)}")
        if length is not None and len(value) != length:
            raise self.error(key, f"must have {length} entries, got {len(value)}")
        return value

    def done(self):
        """Reject keys that were never read (typos, unsupported options)."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            allowed = ", ".join(sorted(self._read)) or "none"
            raise self.error(unknown[0], f"unknown key; allowed here: {allowed}")


def _kind(value):
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(type(value),
                                                                                     type(value).__name__)
