"""Kernels compiled once per machine: each kernel's module written to a cache folder, compiled with numba's disk cache.

The folder is ``$BRIAN2_DELGRAD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/brian2_delgrad/kernels`` (by default
``~/.cache/brian2_delgrad/kernels``); delete it at any time, the next process rebuilds what it needs. It holds a
folder per kernel, named by a hash of everything its compiled code depends on: the model's equations, threshold,
``on_pre`` and ``tau_m/tau_s`` (what the SymPy derivation reads), the source of the derivation, of the code
generator and of the loops, and the versions of Python, NumPy, SymPy, Brian2, numba and llvmlite (numba adds the
CPU). Inside: the kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`), its first line the SHA-256 of the
rest, and numba's cache of its compiled functions in ``__pycache__``.

A process finds a kernel it has compiled before in a few milliseconds, without SymPy. What it finds is checked,
never trusted: a module whose hash does not match is written again, numba's files that do not load are
deleted and compiled again, and a folder that is not the user's own (another owner, or writable by others)
is not used: the process compiles in a private temporary folder instead. Two processes that build the same
kernel at once are safe: the module is written under a temporary name and linked into place only if no other
process has done so, and numba replaces its own files atomically.
"""
import functools
import hashlib
import importlib.util
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from ..core.lif import LIFModel
from ..utils.notices import notice
from . import jit, kernel, kernel_source

__all__ = ["CACHE_ENVIRONMENT", "cache_folder", "kernel_module", "clear_numba_cache"]

#: The environment variable that names the cache folder.
CACHE_ENVIRONMENT = "BRIAN2_DELGRAD_CACHE_DIR"


def cache_folder():
    """The folder of the compiled kernels (see the module's description); not created here."""
    return _folder(*(os.environ.get(name, "").strip() for name in (CACHE_ENVIRONMENT, "XDG_CACHE_HOME", "HOME")))


@functools.lru_cache(maxsize=8)
def _folder(named, xdg, home):
    if named:
        return Path(named).expanduser()
    return Path(xdg or Path(home or Path.home()) / ".cache") / "brian2_delgrad" / "kernels"


def kernel_module(model, closed_form=True):
    """The compiled module of ``model``'s kernel, or ``None`` where only the NumPy passes apply.

    Parameters
    ----------
    model : LIFModel
        Any model :func:`~brian2_delgrad.exact.kernel.derive_kernel` takes.
    closed_form : bool
        The closed-form crossing where the ratio has one; ``False``: root finding.

    Returns
    -------
    module or None
        Its functions ``forward_serial``, ``forward_parallel``, ``backward_serial`` and ``backward_parallel``
        are numba dispatchers that compile at their first call (from numba's cache where it holds them); its
        ``__file__`` is in the kernel's cache folder. ``None`` for a kernel without two input statistics.
    """
    folder = cache_folder()
    if type(model) is LIFModel:                 # immutable and hashed by its values: looked up once per model
        return _lif_module(model, closed_form, folder)
    return _module(kernel.kernel_spec(model, closed_form), folder)


@functools.lru_cache(maxsize=64)
def _lif_module(model, closed_form, folder):
    return _module(kernel.kernel_spec(model, closed_form), folder)


@functools.lru_cache(maxsize=32)
def _module(spec, folder):
    key = _key(spec)
    entry = _private_entry(folder, key)
    path = entry / f"kernel_{key[:16]}.py"
    if _checked_text(path) is None:
        expressions = kernel.derive_expressions(spec)
        if len(expressions["statistics"]) != 2:
            return None
        closed = "closed-form crossing" if spec[3] is not None else "crossing by root finding"
        _write(path, kernel_source.kernel_source(expressions, f"tau_m/tau_s = {spec[4]!r}, {closed}"))
    name = "brian2_delgrad_kernel_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None or getattr(module, "__file__", None) != str(path):
        loader_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module                      # numba's cache looks the module up by name
        loader_spec.loader.exec_module(module)
        for function in vars(module).values():
            cache = getattr(function, "_cache", None)     # a numba dispatcher's disk cache
            if hasattr(cache, "load_overload"):
                cache.load_overload = _guarded(cache.load_overload, module)
    return module


def clear_numba_cache(module):
    """Delete numba's cached code of ``module`` (a kernel's): its functions compile again at their next call."""
    shutil.rmtree(Path(module.__file__).parent / "__pycache__", ignore_errors=True)


def _guarded(load, module):
    """numba's ``load_overload`` of a function of ``module``, where a cache file that does not load (damaged,
    truncated) means: delete numba's cache of the module and compile (numba lets the error through)."""
    def load_overload(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception as error:
            notice(f"numba's cache of {module.__file__} did not load ({type(error).__name__}): compiling again")
            clear_numba_cache(module)
            return None
    return load_overload


def _key(spec):
    """The hash that names a kernel's folder: its spec, the source of the code that makes it, the versions."""
    import brian2
    import llvmlite
    import numba
    import numpy
    import sympy

    from .. import __version__

    digest = hashlib.sha256(repr(spec).encode())
    for module in (kernel, kernel_source, jit, *kernel_source.LOOP_MODULES):
        digest.update(Path(module.__file__).read_bytes())
    versions = (sys.version, __version__, numpy.__version__, sympy.__version__, brian2.__version__,
                numba.__version__, llvmlite.__version__)
    digest.update(repr(versions).encode())
    return digest.hexdigest()


def _private_entry(root, key):
    """The kernel's folder under ``root``, created private to the user; a private temporary one where ``root``
    cannot be written or the folder is not the user's own (said once in a notice)."""
    entry = root / key[:32]
    try:
        entry.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = _not_private(entry)
    except OSError as error:
        problem = f"cannot be written ({error.strerror or error})"
    if problem is None:
        return entry
    fallback = Path(tempfile.mkdtemp(prefix="brian2_delgrad_kernels_")) / key[:32]
    fallback.mkdir(mode=0o700)
    notice(f"the kernel cache {entry} {problem}: compiling in {fallback.parent} for this process only "
           f"(set {CACHE_ENVIRONMENT} to a folder of your own)")
    return fallback


def _not_private(path):
    """Why ``path`` (a folder or file) may not be trusted, or ``None``: it must be the user's and not writable by
    others, since its code is run."""
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return "belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by other users"
    return None


def _checked_text(path):
    """The module's text if its first line holds the hash of the rest and the file is private, else ``None``
    (a damaged or foreign module is deleted, with numba's cache beside it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    first, _, rest = data.partition(b"\n")
    if first != b"# sha256 " + hashlib.sha256(rest).hexdigest().encode() or _not_private(path) is not None:
        notice(f"the kernel module {path} is damaged or not private: building it again")
        path.unlink(missing_ok=True)
        shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
        return None
    return rest.decode()


def _write(path, text):
    """Write the module with its hash line under a temporary name, then link it into place unless another
    process has written it first (both wrote the same text)."""
    data = text.encode()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".writing-", suffix=".py")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(b"# sha256 " + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
