"""One-line notices of long first-time work (compilation, Brian2's code build), on standard error.

A command that goes quiet for a minute looks hung; these say what is happening
and how long it usually takes, once per process and kind of work. Set
``BRIAN2_DELGRAD_QUIET=1`` to silence them.
"""
import os
import sys

__all__ = ["announce_once"]

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
    if key in _announced or os.environ.get("BRIAN2_DELGRAD_QUIET", "") not in ("", "0"):
        return
    _announced.add(key)
    print(f"brian2-delgrad: {message}", file=sys.stderr, flush=True)
