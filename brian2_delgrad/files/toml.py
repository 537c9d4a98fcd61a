"""Strict reading of TOML description files (models, studies): data, never code.

Every problem is a :class:`ConfigError` whose message starts with
``FILE: section.key:`` and says what is allowed. Quantities such as
``"5*ms"`` go through :func:`~brian2_delgrad.files.quantities.parse_quantity`,
which parses and never evaluates. Finding and reading a file needs no Brian2
(it is loaded for quantities only), so the command line reports a missing,
unreadable or malformed file before it loads Brian2.
"""
import difflib
import numbers
import tomllib
from pathlib import Path

from .shipped import ShippedError, resolve

__all__ = ["ConfigError", "Section", "read_toml", "find_file", "check_file"]


class ConfigError(ValueError):
    """A description file is wrong; the message names the file and the field."""


def find_file(source, kind, base=None):
    """The model or study file that ``source`` names: a path, else a shipped file of that name.

    See :func:`brian2_delgrad.files.shipped.resolve`; a name that is no file is a :class:`ConfigError`.
    """
    try:
        return resolve(source, kind, base)
    except ShippedError as err:
        raise ConfigError(str(err)) from None


def check_file(path, wanted="a file"):
    """``path`` as a :class:`~pathlib.Path`, or a one-line :class:`ConfigError` unless it is an existing regular
    file (not a folder, a FIFO or a device); ``wanted`` says what to give instead of a folder."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give {wanted}")
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    return path


def read_toml(path):
    """Parse a TOML file into a :class:`Section` for its top level.

    A missing file, a folder, a file that is not regular (a FIFO, a device), an
    unreadable or non-UTF-8 file and a TOML syntax error are each a one-line
    :class:`ConfigError` naming the file.
    """
    path = check_file(path, "a .toml file")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return Section(data, str(path), "")


class Section:
    """One table of a TOML file, read key by key; :meth:`only` refuses keys the reader does not know.

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
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing")
            return default
        return self.data[key]

    def only(self, allowed):
        """Refuse any key of this table that is not in ``allowed``: one line naming it, with a "did you mean"
        from ``allowed`` and the whole list. Call it before reading, so a typo is named as such, not as
        the required key it misspells."""
        for key, value in self.data.items():
            if key not in allowed:
                table = isinstance(value, dict)
                what = (f"[{'.'.join(p for p in (self.name, key) if p)}]" if table else repr(key))
                close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                hint = ""
                if close:
                    hint = f"did you mean [{'.'.join(p for p in (self.name, close[0]) if p)}]? " if table else \
                        f"did you mean {close[0]!r}? "
                raise self.error(key, f"unknown {'table' if table else 'key'} {what}; {hint}allowed here: "
                                      f"{', '.join(allowed) or 'none'}")

    def section(self, key, required=True):
        """A sub-table; an empty one if it is optional and absent."""
        if required and key not in self.data:
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
        from .quantities import QuantityError, parse_quantity

        value = self.raw(key, default) if value is ... else value
        try:
            result = parse_quantity(value, dimension, self.where(key))
        except QuantityError as err:
            raise ConfigError(str(err)) from None
        if positive and not float(result) > 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return result

    def setting(self, setting, default=..., key=None):
        """The value of a declared :class:`~brian2_delgrad.utils.settings.Setting`, checked exactly as the Python API checks it.

        Times are written as quantity strings (``"5*ms"``), a time range as a
        list of two. Absent: ``default`` if given, else the setting's own
        default (unchecked); without either, an error that names the key.
        Returns the canonical value (float seconds for times).
        """
        from brian2 import second

        key = key or setting.name
        default = setting.default if default is ... else default
        if key not in self.data and default is not ...:
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


def _kind(value):
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(type(value),
                                                                                     type(value).__name__)
