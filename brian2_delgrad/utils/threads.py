"""How many threads the compiled kernels use: an argument, the process default, the environment, or every core.

The compiled forward pass splits the batch across threads, the backward pass
the (sample, neuron) pairs, then the synapses; every sum keeps the order of a
one-thread run, so results are identical bit for bit for any thread count.
The count is, in order of precedence: the ``threads`` argument of
:class:`~brian2_delgrad.ExactSubstrate` or :func:`~brian2_delgrad.backward`
(a :class:`~brian2_delgrad.Trainer` uses its substrate's); the process default set by
:func:`set_num_threads` (the CLI's ``--threads``); the environment variable
``BRIAN2_DELGRAD_THREADS``; one per core this process may run on (at most
``NUMBA_NUM_THREADS``). On one thread the kernels do not touch numba's
threading layer at all.

Idle OpenMP threads spin only briefly before they sleep (``GOMP_SPINCOUNT=1000``,
set on import unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set already;
it takes effect if OpenMP was not loaded before). With GNU OpenMP's default
(300 000) the threads spin between parallel regions; when another process keeps
a core busy they take CPU time from the thread that has work, and every region
waits for a descheduled thread: a two-thread Yin-Yang epoch took 1.7 s instead
of 0.05 s beside one busy process. Measured per epoch (quiet / one core busy):
default 35 / 1700 ms, 1000 spins 39 / 78 ms, no spinning
(``OMP_WAIT_POLICY=PASSIVE``) 51-64 / 59 ms, one thread 72 ms when busy.
"""
import contextlib
import os

import numba

from .settings import Setting

__all__ = ["THREADS", "ENVIRONMENT", "set_num_threads", "get_num_threads", "check_threads", "default_threads",
           "kernel_threads"]

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"           # read when numba first starts its OpenMP threads

#: The environment variable read for the default thread count.
ENVIRONMENT = "BRIAN2_DELGRAD_THREADS"

#: The thread-count setting, declared once for every API that takes it.
THREADS = Setting("threads", "integer", low=1, optional=True,
                  doc="threads of the compiled kernels (default: every core)")

_default = None


def set_num_threads(threads):
    """Set the process-wide thread count of the compiled kernels (``None``: back to the environment or every core).

    Parameters
    ----------
    threads : int or None
        At least 1 and at most the threads numba may start (``numba.config.NUMBA_NUM_THREADS``).
    """
    global _default
    _default = check_threads(threads, "threads")


def get_num_threads(threads=None):
    """The thread count a kernel call uses: ``threads`` if given, else the process default, the environment or all.

    Parameters
    ----------
    threads : int, optional
        An explicit count (checked: a whole number >= 1).

    Returns
    -------
    int
        ``threads``; else the count of :func:`set_num_threads`; else the
        environment variable ``BRIAN2_DELGRAD_THREADS``; else the cores this
        process may run on (CPU affinity), capped by ``NUMBA_NUM_THREADS``.
    """
    if threads is not None:
        return check_threads(threads, "threads")
    if _default is not None:
        return _default
    text = os.environ.get(ENVIRONMENT, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{ENVIRONMENT} must be a whole number of threads, got {text!r}") from None
        return check_threads(value, ENVIRONMENT)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def default_threads(threads):
    """Inside the block, the process default is ``threads`` (at most what numba can start here)."""
    global _default
    previous = _default
    _default = max(1, min(THREADS.check(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        yield _default
    finally:
        _default = previous


@contextlib.contextmanager
def kernel_threads(threads=None):
    """Run the compiled kernels inside the block on :func:`get_num_threads` ``(threads)`` threads."""
    count = get_num_threads(threads)
    if count == 1:                                  # the serial kernels never enter numba's thread pool
        yield count
        return
    previous = numba.get_num_threads()
    if count == previous:
        yield count
        return
    numba.set_num_threads(count)
    try:
        yield count
    finally:
        numba.set_num_threads(previous)


def check_threads(threads, name="threads"):
    """``threads`` (``None`` or a count from 1 to what numba can start), checked; errors name ``name``."""
    threads = THREADS.check(threads, name)
    if threads is not None and threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"{name} = {threads} is more than the {numba.config.NUMBA_NUM_THREADS} threads numba can "
                         "start on this machine (raise NUMBA_NUM_THREADS before Python starts to allow more)")
    return threads
