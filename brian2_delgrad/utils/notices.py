"""One-line notices on standard error: long first-time work (compilation, Brian2's code build), damaged files set
aside.

A command that goes quiet for a minute looks hung; these say what is happening
and how long it usually takes, once per process and kind of work. Set
``BRIAN2_DELGRAD_QUIET=1`` to silence them.
"""
import os
import sys

__all__ = ["announce_once", "notice"]

_announced = set()


def announce_once(key, message):
    """Write ``brian2-delgrad: <message>`` to standard error, the first time ``key`` is announced in this process.

    Parameters
    ----------
    key : str
        What is announced (``'kernels'``, ``'cython'``): each is said once per process.
    message : str
        One line: what happens and how long it usually takes.
    """
    if key not in _announced:
        _announced.add(key)
        notice(message)


def notice(message):
    """Write ``brian2-delgrad: <message>`` (one line) to standard error, unless ``BRIAN2_DELGRAD_QUIET`` is set."""
    if os.environ.get("BRIAN2_DELGRAD_QUIET", "") in ("", "0"):
        print(f"brian2-delgrad: {message}", file=sys.stderr, flush=True)
