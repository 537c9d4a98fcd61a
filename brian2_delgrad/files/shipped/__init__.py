"""The model and study files that ship with the package, found by name from any folder.

The repository keeps one copy of each, in ``models/`` and ``studies/`` at its
top; an install puts them inside the package (``brian2_delgrad/files/shipped/models``
and ``.../studies``, mapped at build time by ``setup.cfg``), where this module
finds them. A checkout (an editable install) reads the top-level folders.

A name stands for a file wherever a path does: :func:`resolve` takes a path
(which wins when it exists, ``.toml`` may be left out) or the bare name of a
shipped file (``'yinyang_h30_ws'``, ``'quickstart'``). Only :mod:`pathlib` and
:mod:`tomllib` are imported, so the command line can answer before it loads
Brian2. For example, ``resolve("quickstart", "studies")`` is the quick study's
file and ``shipped_names("models")`` lists the model files (no doctest here:
Brian2's doctest collector cannot take a package's ``__init__``).
"""
import shutil
import tomllib
from pathlib import Path

__all__ = ["KINDS", "ShippedError", "shipped_folder", "shipped_names", "resolve", "describe", "copy_shipped"]

#: The kinds of shipped file: folder name -> what one of them is, in words.
KINDS = {"models": "model file", "studies": "study file"}

_HERE = Path(__file__).resolve().parent


class ShippedError(ValueError):
    """A name or path that is no file; the message lists what ships."""


def shipped_folder(kind):
    """The folder of the shipped files of ``kind`` (``'models'`` or ``'studies'``), a :class:`~pathlib.Path`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    installed = _HERE / kind
    return installed if installed.is_dir() else _HERE.parents[2] / kind     # a checkout: the top-level folder


def shipped_names(kind):
    """Names (file stems) of the shipped files of ``kind``, sorted (list of str)."""
    return sorted(path.stem for path in shipped_folder(kind).glob("*.toml"))


def resolve(source, kind, base=None):
    """The file that ``source`` names: a path (relative to ``base``), else a shipped file of ``kind``.

    Parameters
    ----------
    source : str or Path
        A path, with or without ``.toml``, or the bare name of a shipped file.
    kind : {'models', 'studies'}
    base : str or Path, optional
        Folder that relative paths start from (default: the working folder);
        a study file's folder for the model files it names.

    Returns
    -------
    pathlib.Path
        An existing path: a file given as a path, else the shipped file of a bare
        name, else whatever exists of that name (a folder, a FIFO: reported by
        whoever reads it).

    Raises
    ------
    ShippedError
        ``SOURCE: no such file``, with the shipped names of ``kind``.
    """
    source = str(source)
    path = Path(source) if base is None else Path(base) / source
    candidates = [path] if path.suffix == ".toml" or not path.name else [path, path.with_name(path.name + ".toml")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    bare = Path(source).name == source and source not in ("", ".", "..")
    if bare:                                         # a folder of that name here does not hide a shipped file
        shipped = shipped_folder(kind) / (source if source.endswith(".toml") else source + ".toml")
        if shipped.is_file():
            return shipped
    for candidate in candidates:
        if candidate.exists():                       # a folder or a FIFO: its reader says what it is
            return candidate
    hint = f"shipped {kind}: {', '.join(shipped_names(kind))}"
    named = Path(source).stem
    if not bare and named in shipped_names(kind):
        hint = f"the shipped {KINDS[kind]} of that name is {named!r}"
    raise ShippedError(f"{path}: no such file ({hint})")


def describe(path):
    """The ``description`` of a TOML file, or ``''`` (str; unreadable files give ``''`` too)."""
    try:
        with open(path, "rb") as handle:
            value = tomllib.load(handle).get("description", "")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ""
    return value if isinstance(value, str) else ""


def copy_shipped(name, folder=".", overwrite=False):
    """Copy a shipped model or study file into ``folder`` to edit it.

    Parameters
    ----------
    name : str
        A shipped name (``'yinyang_h30_ws'``, ``'quickstart'``), with or without ``.toml``.
    folder : str or Path
        Where the copy goes (created if needed).
    overwrite : bool
        Replace a file of the same name there; otherwise that is a :class:`ShippedError`.

    Returns
    -------
    pathlib.Path
        The copy.
    """
    stem = name.removesuffix(".toml")
    for kind in KINDS:
        if stem in shipped_names(kind):
            target = Path(folder) / f"{stem}.toml"
            if target.exists() and not overwrite:
                raise ShippedError(f"{target}: exists already (--force replaces it)")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shipped_folder(kind) / f"{stem}.toml", target)
            return target
    raise ShippedError(f"{name}: not a shipped file; shipped models: {', '.join(shipped_names('models'))}; "
                       f"shipped studies: {', '.join(shipped_names('studies'))}")
