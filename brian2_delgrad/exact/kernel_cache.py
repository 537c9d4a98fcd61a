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
deleted and compiled again, a kernel folder of the user's that others could write to is deleted and built
again, and where the folder belongs to another user, or a folder above it lets others replace it (writable by
others, without the sticky bit), or it cannot be written, the process compiles in a private temporary folder
instead (deleted at exit). Two processes that build the same kernel at once are safe: the module is written
under a temporary name and linked into place only if no other process has done so, numba replaces its own
files atomically, and a process holds a lock on the kernel's folder while it saves compiled code there (shared
while it loads): numba numbers a function's cached overloads in an index, and two processes saving different
overloads of one function at once would otherwise both take the same number, the index then naming one
overload's code for the other (which crashes the process that loads it).
"""
import atexit
import contextlib
import functools
import glob
import hashlib
import importlib.util
import os
import pickle
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

from ..utils.notices import notice
from . import jit, kernel, kernel_source

__all__ = ["CACHE_ENVIRONMENT", "cache_folder", "kernel_module"]

#: The environment variable that names the cache folder.
CACHE_ENVIRONMENT = "BRIAN2_DELGRAD_CACHE_DIR"


def cache_folder():
    """The folder of the compiled kernels (see the module's description); not created here.

    Without ``$HOME`` and a home directory the user database knows, a folder of the user's in the temporary
    directory.
    """
    return _folder(*(os.environ.get(name, "").strip() for name in (CACHE_ENVIRONMENT, "XDG_CACHE_HOME", "HOME")))


@functools.lru_cache(maxsize=8)
def _folder(named, xdg, home):
    if named:
        return Path(named).expanduser()
    if xdg:
        return Path(xdg) / "brian2_delgrad" / "kernels"
    try:
        home = Path(home or Path.home())
    except (RuntimeError, KeyError):                   # no $HOME and no entry in the user database
        return Path(tempfile.gettempdir()) / f"brian2_delgrad-{os.getuid()}" / "kernels"
    return home / ".cache" / "brian2_delgrad" / "kernels"


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
        Its functions ``step_serial``, ``step_parallel`` (forward pass, loss and backward pass:
        :mod:`~brian2_delgrad.exact.step_kernel`), ``backward_serial`` and ``backward_parallel`` are numba dispatchers that compile at their first call (from numba's cache where it holds them); its
        ``__file__`` is in the kernel's cache folder. ``None`` for a kernel without two input statistics.
    """
    return _module(kernel.kernel_spec(model, closed_form), cache_folder())


_LOCK = threading.Lock()                                # one thread builds and imports a module at a time


@functools.lru_cache(maxsize=32)
def _module(spec, folder):
    with _LOCK:
        key = _key(spec)
        entry = _private_entry(folder, key)
        path = entry / f"kernel_{key[:16]}.py"
        if not _intact(path):
            expressions = kernel.derive_expressions(spec)
            if len(expressions["statistics"]) != 2:
                return None
            closed = "closed-form crossing" if spec[3] is not None else "crossing by root finding"
            text = kernel_source.kernel_source(expressions, f"tau_m/tau_s = {spec[4]!r}, {closed}")
            try:
                _write(path, text)
            except OSError as error:
                entry = _temporary_entry(key, f"{entry} cannot be written ({error.strerror or error})")
                path = entry / path.name
                _write(path, text)
        return _import(path)


def _import(path):
    """Import the kernel module at ``path`` under a name of its own (numba's cache looks it up by name), its
    numba caches guarded (:func:`_guarded`)."""
    name = "brian2_delgrad_kernel_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    loader_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    lock = Path(path).parent / "numba.lock"
    for function in vars(module).values():
        cache = getattr(function, "_cache", None)         # a numba dispatcher's disk cache
        if hasattr(cache, "load_overload") and hasattr(cache, "save_overload"):
            cache.load_overload, cache.save_overload = _guarded(cache, lock), _saved_if_possible(cache, lock)
    return module


@contextlib.contextmanager
def _locked(path, shared=False):
    """Hold an advisory lock on the file ``path`` (created if need be; shared or exclusive) inside the block;
    without one where the file cannot be opened or the system has no ``flock``."""
    try:
        import fcntl

        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except OSError:                                   # a file system without locks (NFS without lockd, ...)
            pass
        yield
    finally:
        os.close(handle)                                  # releases the lock


#: What a damaged numba cache file raises when it is loaded (truncated, overwritten, of another layout).
DAMAGE = (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError, ImportError,
          IndexError, KeyError)


def _guarded(cache, lock):
    """numba's ``load_overload`` of ``cache`` (a function's) under a shared ``lock``, where a cache file that does not
    load means: delete that function's index and data files and compile (numba lets the error through, and would
    again)."""
    load = cache.load_overload

    def load_overload(sig, target_context):
        try:
            with _locked(lock, shared=True):
                return load(sig, target_context)
        except DAMAGE as error:
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            notice(f"numba's cache {index} did not load ({type(error).__name__}): compiling again")
            if index is not None:
                for file in [index, *glob.glob(glob.escape(index[:-len(".nbi")]) + ".*.nbc")]:
                    Path(file).unlink(missing_ok=True)
            return None
    return load_overload


def _saved_if_possible(cache, lock):
    """numba's ``save_overload`` of ``cache`` under an exclusive ``lock``, where a file that cannot be written (the
    folder deleted meanwhile, a full disk) leaves the compiled code in memory only: the next process compiles it
    again."""
    save = cache.save_overload

    def save_overload(sig, data):
        try:
            with _locked(lock):
                save(sig, data)
        except OSError as error:
            name = getattr(getattr(cache, "_py_func", None), "__qualname__", "a kernel function")
            notice(f"numba's cache of {name} could not be written ({error.strerror or error}): compiled for this "
                   "process only")
    return save_overload


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
    cannot be written or is not safe (see the module's description; said once in a notice). A kernel folder of
    the user's that others could write to is deleted and created again: nothing in it is used."""
    entry = root / key[:32]
    try:
        entry.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = _unsafe_above(root) or _not_private(entry)
        if problem == "is writable by other users" and entry.stat().st_uid == os.getuid():
            notice(f"the kernel cache folder {entry} was writable by other users: building it again")
            shutil.rmtree(entry)
            entry.mkdir(mode=0o700)
            problem = _not_private(entry)
    except OSError as error:
        problem = f"cannot be written ({error.strerror or error})"
    return entry if problem is None else _temporary_entry(key, f"the kernel cache {entry} {problem}")


def _temporary_entry(key, why):
    """A private temporary kernel folder for this process (deleted at exit), with a notice saying ``why``."""
    folder = Path(tempfile.mkdtemp(prefix="brian2_delgrad_kernels_"))
    atexit.register(shutil.rmtree, folder, True)
    notice(f"{why}: compiling in {folder} for this process only (set {CACHE_ENVIRONMENT} to a folder of your own)")
    entry = folder / key[:32]
    entry.mkdir(mode=0o700)
    return entry


def _unsafe_above(root):
    """Why another user could replace ``root`` or a folder above it, or ``None``: each must belong to the user
    or to the administrator (uid 0), and be writable by no one else unless it has the sticky bit (as /tmp)."""
    for folder in [root, *root.parents]:
        if not folder.exists():
            continue
        info = folder.stat()
        if info.st_uid not in (os.getuid(), 0):
            return f"is inside {folder}, which belongs to another user"
        if _others_can_write(info) and not info.st_mode & stat.S_ISVTX:
            return f"is inside {folder}, which other users can write to"
    return None


def _not_private(path):
    """Why ``path`` (a folder or file) may not be trusted, or ``None``: it must be the user's and not writable by
    others, since its code is run."""
    info = path.stat()
    if info.st_uid != os.getuid():
        return "belongs to another user"
    if _others_can_write(info):
        return "is writable by other users"
    return None


def _others_can_write(info):
    """Whether users other than this one may write to the file of ``info`` (an ``os.stat`` result): it is
    writable by all, or by a group that is not the user's own private group (a group of its own name, with no
    other members, as Debian gives every user)."""
    if info.st_mode & stat.S_IWOTH:
        return True
    if not info.st_mode & stat.S_IWGRP:
        return False
    try:
        import grp
        import pwd

        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(info.st_gid)
    except (ImportError, KeyError):
        return True
    return not (info.st_gid == os.getgid() and group.gr_name == user and set(group.gr_mem) <= {user})


def _intact(path):
    """Whether the module at ``path`` exists, its first line holds the hash of the rest and it is private (a
    damaged or foreign module is deleted, with numba's cache beside it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    first, _, rest = data.partition(b"\n")
    if first == b"# sha256 " + hashlib.sha256(rest).hexdigest().encode() and _not_private(path) is None:
        return True
    notice(f"the kernel module {path} is damaged or not private: building it again")
    path.unlink(missing_ok=True)
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
    return False


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
        except OSError:                                 # a file system without hard links: replace (same text)
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
