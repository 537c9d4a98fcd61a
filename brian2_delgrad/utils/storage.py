"""Files the project writes: every one atomically, and one versioned npz + JSON layout for saved state.

An *archive* is an ``.npz`` file (never pickled) of named float arrays plus
an entry ``meta``: UTF-8 JSON with ``format`` (``'brian2_delgrad'``),
``kind`` (``'network'``: :meth:`DelayNetwork.save
<brian2_delgrad.core.network.DelayNetwork.save>`; ``'checkpoint'``:
:mod:`~brian2_delgrad.training.checkpoints`), ``version`` (:data:`ARCHIVE_VERSION`)
and the kind's own fields. Files from before the layout had a kind (version 1:
networks without a version, checkpoints with ``version = 1``) hold the same
arrays and fields and are read as they are.
"""
import contextlib
import fcntl
import io
import json
import os
import re
import socket
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "write_text", "write_json", "write_csv", "write_archive", "read_archive", "ArchiveError",
           "ARCHIVE_VERSION", "only_writer", "FolderInUse", "LOCK_FILE"]

#: The file in an output folder that its one writer holds locked (it names the writer).
LOCK_FILE = ".lock"

#: Temporary files of :func:`atomic_write`: ``.<name>.<pid>.<8 hex digits>.tmp``.
_TEMPORARY = re.compile(r"\..+\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp")

#: Version of the archive layout written now.
ARCHIVE_VERSION = 2

_FORMAT = "brian2_delgrad"


class ArchiveError(ValueError):
    """A file is not an archive of the expected kind, or of a version this package cannot read."""


class ForeignArchive(ArchiveError):
    """A readable archive of another kind, or written by a version of the package this one cannot read: not
    damage."""


class FolderInUse(RuntimeError):
    """Another run writes into the output folder; the message names it."""


@contextlib.contextmanager
def only_writer(folder, what):
    """Be the one writer of ``folder`` while the block runs: an OS lock that dies with the process.

    ``folder/.lock`` is locked with ``flock`` (released when the process ends, however it ends: a
    SIGKILL leaves no stale lock) and names the holder. Leftover temporary files of
    :func:`atomic_write` in the folder and its subfolders (from a run that was killed while writing) are
    removed once the lock is held.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    what : str
        The run, for a second run's message (e.g. ``'brian2-delgrad train yinyang_h5_ws'``).

    Raises
    ------
    FolderInUse
        At once, if another process holds the folder: ``FOLDER: in use by process PID on HOST (WHAT); ...``.
        (Locks are per machine: two machines writing into one shared folder are not detected.)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderInUse(f"{folder}: in use by {holder}; wait for it to end or give another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} ({what})")
        handle.flush()
        for leftover in [*folder.glob(".*.tmp"), *folder.glob("*/.*.tmp")]:
            if _abandoned(leftover, folder):
                leftover.unlink(missing_ok=True)
        yield
    finally:
        handle.close()                               # releases the lock


def _abandoned(path, folder):
    """Whether ``path`` is a temporary file of :func:`atomic_write` whose writer is gone, in ``folder`` or a subfolder
    that no other run holds (a folder of its own, with its own lock, is left alone)."""
    match = _TEMPORARY.fullmatch(path.name)
    if match is None or (path.parent != folder and (path.parent / LOCK_FILE).exists()):
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return int(match["pid"]) == os.getpid()


def atomic_write(path, write, binary=False):
    """Write ``path`` by ``write(handle)`` into a temporary file beside it, then rename it into place.

    Readers (and a run cut short) see the old file or the new one, never a
    part: the data is flushed to disk before the rename.

    Parameters
    ----------
    path : str or Path
    write : callable
        Called with the open file handle.
    binary : bool
        Open the handle in binary mode.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path, text):
    """Write a text file atomically."""
    atomic_write(path, lambda handle: handle.write(text))


def write_json(path, value):
    """Write ``value`` as indented JSON, atomically."""
    write_text(path, json.dumps(value, indent=1))


def write_csv(table, path):
    """Write a pandas table as CSV (no index), atomically."""
    atomic_write(path, lambda handle: table.to_csv(handle, index=False))


def write_archive(path, kind, meta, arrays):
    """Write an archive (see the module docstring) atomically.

    Parameters
    ----------
    path : str or Path
    kind : str
    meta : dict
        JSON values.
    arrays : dict
        Name -> ndarray.
    """
    header = dict(format=_FORMAT, kind=kind, version=ARCHIVE_VERSION, **meta)
    arrays = dict(arrays, meta=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    archive = io.BytesIO()                      # built in memory: np.savez seeks back over every entry it writes,
    np.savez(archive, **arrays)                 # each seek a system call on a file (a checkpoint: 0.7 -> 0.5 ms)
    atomic_write(path, lambda handle: handle.write(archive.getbuffer()), binary=True)


def read_archive(path, kind):
    """The ``meta`` dict and the arrays of an archive of ``kind``.

    Raises
    ------
    ArchiveError
        If ``path`` cannot be read, is not an archive, is another kind, or
        was written by a newer layout version; the message says which.
    """
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ArchiveError(f"cannot read {path} ({err or type(err).__name__})") from None
    if not isinstance(meta, dict):
        raise ArchiveError(f"{path}: its meta entry is not a JSON object")
    found = meta.get("kind", "checkpoint" if "epoch" in meta else "network")      # version 1 files have no kind
    if found != kind:
        raise ForeignArchive(f"{path} is a {found} file, not a {kind} file")
    version = meta.get("version", 1)
    if not isinstance(version, int) or not 1 <= version <= ARCHIVE_VERSION:
        raise ForeignArchive(f"{path}: layout version {version!r} is not one this brian2_delgrad reads "
                           f"(1 to {ARCHIVE_VERSION}); it was written by another version of the package")
    return meta, arrays
