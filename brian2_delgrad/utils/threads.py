"""How many threads the compiled kernels use: an argument, the process default, the environment, or measured.

The compiled forward pass splits the batch across threads, the backward pass
the (sample, neuron) pairs, then the synapses; every sum keeps the order of a
one-thread run, so results are identical bit for bit for any thread count.
The count is, in order of precedence: the ``threads`` argument of
:class:`~brian2_delgrad.ExactSubstrate` or :func:`~brian2_delgrad.backward`
(a :class:`~brian2_delgrad.Trainer` uses its substrate's); the process default set by
:func:`set_num_threads` (the CLI's ``--threads``); the environment variable
``BRIAN2_DELGRAD_THREADS``; else it is chosen call by call: one thread or one per
core this process may run on (at most ``NUMBA_NUM_THREADS``), whichever has
been faster for calls of the same kind and size (:class:`ThreadChooser`). Small
passes (a Yin-Yang batch takes a fraction of a millisecond) gain little from
threads, and when another process keeps a core busy, every parallel region
waits for the thread that shares that core: the measured choice then falls to
one thread, and back to all of them when the machine is quiet again. On one
thread the kernels do not touch numba's threading layer at all.

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
import collections
import contextlib
import os
import time

import numba

from .settings import Setting

__all__ = ["THREADS", "ENVIRONMENT", "set_num_threads", "get_num_threads", "check_threads", "default_threads",
           "kernel_threads", "ThreadChooser"]

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"           # read when numba first starts its OpenMP threads

#: The environment variable read for the default thread count.
ENVIRONMENT = "BRIAN2_DELGRAD_THREADS"

#: The thread-count setting, declared once for every API that takes it.
THREADS = Setting("threads", "integer", low=1, optional=True,
                  doc="threads of the compiled kernels (default: one or every core, whichever measures faster)")

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
        process may run on (CPU affinity), capped by ``NUMBA_NUM_THREADS``: the
        most a call uses, which takes one thread instead where that has measured
        faster (see the module's description).
    """
    return _count(threads)[0]


def _count(threads):
    """``(count, chosen)``: the count of :func:`get_num_threads` and whether it is the default, which a
    :class:`ThreadChooser` may lower call by call."""
    if threads is not None:
        return check_threads(threads, "threads"), False
    if _default is not None:
        return _default, False
    text = os.environ.get(ENVIRONMENT, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{ENVIRONMENT} must be a whole number of threads, got {text!r}") from None
        return check_threads(value, ENVIRONMENT), False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, numba.config.NUMBA_NUM_THREADS)), True


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
def kernel_threads(threads=None, kind=None):
    """Run the compiled kernels inside the block on :func:`get_num_threads` ``(threads)`` threads.

    Where that count is the default and ``kind`` (any hashable: what is computed, and its size) is given, the
    block runs on the count the process's :class:`ThreadChooser` picks for ``kind``, and its time is recorded.
    Yields the count.
    """
    count, chosen = _count(threads)
    if chosen and kind is not None and count > 1:
        count = CHOOSER.choose(kind, count)
        start = time.perf_counter()
        with _numba_threads(count):
            yield count
        CHOOSER.record(kind, count, time.perf_counter() - start)
    else:
        with _numba_threads(count):
            yield count


@contextlib.contextmanager
def _numba_threads(count):
    if count == 1:                                  # the serial kernels never enter numba's thread pool
        yield
        return
    previous = numba.get_num_threads()
    if count == previous:
        yield
        return
    numba.set_num_threads(count)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class ThreadChooser:
    """One thread or ``most``, per kind of call: whichever has been faster, measured as the calls go.

    The first calls of a kind are measured on each count, four on ``most`` and four on one taking turns (the first
    call on each is not timed: it may compile or load the kernel; in turns, so that calls that grow cheaper as a
    training goes on, such as its first epochs, do not favour the count measured last); from then on the count
    with the lower best of its last
    :attr:`KEEP` times is used, and every :attr:`RECHECK`-th call runs on the other, so that a change of load
    (another process taking a core, or leaving it) changes the choice. The best, not the median: on a shared
    machine a call is only ever slowed down, so a few slow calls on the faster count (another process woke for a
    moment) do not send a run to the slower one for the next :attr:`RECHECK` calls; a lasting load slows every
    call and changes the choice within :attr:`KEEP` calls. The numbers never depend on it: every count gives the
    same results.
    """

    #: Times kept per kind and count.
    KEEP = 5
    #: Every this many calls of a kind, one runs on the count not in use.
    RECHECK = 40

    def __init__(self):
        self._times = collections.defaultdict(lambda: collections.deque(maxlen=self.KEEP))
        self._seen = set()                          # (kind, count) called before: timed from the second call
        self._calls = collections.Counter()

    def choose(self, kind, most):
        """The count for the next call of ``kind``: 1 or ``most``."""
        self._calls[kind] += 1
        measuring = [count for count in (most, 1) if len(self._times[kind, count]) < 3]
        if measuring:                               # the one called less often so far, `most` first
            return min(measuring, key=lambda count: len(self._times[kind, count]) + ((kind, count) in self._seen))
        faster, slower = sorted((most, 1), key=lambda count: min(self._times[kind, count]))
        return slower if self._calls[kind] % self.RECHECK == 0 else faster

    def record(self, kind, count, seconds):
        """Note that a call of ``kind`` took ``seconds`` on ``count`` threads."""
        if (kind, count) in self._seen:
            self._times[kind, count].append(seconds)
        self._seen.add((kind, count))


#: The process's chooser of default thread counts.
CHOOSER = ThreadChooser()


def check_threads(threads, name="threads"):
    """``threads`` (``None`` or a count from 1 to what numba can start), checked; errors name ``name``."""
    threads = THREADS.check(threads, name)
    if threads is not None and threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"{name} = {threads} is more than the {numba.config.NUMBA_NUM_THREADS} threads numba can "
                         "start on this machine (raise NUMBA_NUM_THREADS before Python starts to allow more)")
    return threads
