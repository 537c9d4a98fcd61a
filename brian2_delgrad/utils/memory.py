"""How much memory a network, its training and its forward passes take, and the refusal of what cannot fit.

With the compiled kernels nothing grows like batch x synapses: a sample in
flight costs a few numbers per neuron. What grows with the network is held
per synapse (the parameters, the optimiser's moments, the last and best
parameters, the gradients and the kernels' transposed copies), plus two
bounded buffers: the backward pass's PSPs and weighted PSP slopes
(:data:`BLOCK_BYTES`) and the delay jitter of a
noisy forward pass, which is drawn in chunks of :data:`CHUNK_BYTES`.

=====================================  ===========================================
what                                   bytes
=====================================  ===========================================
a network (:class:`DelayNetwork`)      ``NETWORK_PER_SYNAPSE`` x synapses
training (:class:`Trainer`)            ``TRAINING_PER_SYNAPSE`` x synapses
                                       + ``PER_SAMPLE_NEURON`` x batch x neurons
                                       + 16 x batch x synapses of the widest layer,
                                       at most ``BLOCK_BYTES`` (or one sample's)
                                       + with delay jitter 40 x batch x synapses
                                       of the widest layer, at most ``CHUNK_BYTES``
                                       (or one sample's)
a forward pass (exact substrate)       ``PER_SAMPLE_NEURON`` x samples x neurons
                                       + ``CHUNK_BYTES`` with delay jitter
=====================================  ===========================================

The constants are upper bounds: ``tests/test_memory.py`` measures a training
epoch with :mod:`tracemalloc` and holds each estimate between the measured
peak and three times it (measured: 1.2 to 2.1 times for networks from 4-30-3
to 784-350-10, synaptic delays, batch 100, with and without jitter). A forward pass with
delay jitter, or the NumPy reference pass, runs large batches in chunks of
samples, with the same numbers as in one piece. Work that would not fit in the
memory this machine has available is refused before anything is allocated,
with a :class:`MemoryLimitError` naming the sizes and the estimate.
"""
import os

__all__ = ["MemoryLimitError", "NETWORK_PER_SYNAPSE", "TRAINING_PER_SYNAPSE", "PER_SAMPLE_NEURON", "CHUNK_BYTES",
           "BLOCK_BYTES", "JITTER_BYTES", "NUMPY_BYTES",
           "network_bytes", "training_bytes", "available_bytes", "check_fits", "check_training", "chunk_size",
           "chunk_rows", "describe_bytes"]

#: Bytes per synapse of a network: weight, connectivity and delays, and the temporaries of making it.
NETWORK_PER_SYNAPSE = 48
#: Bytes per synapse of training: the network, the optimiser (shadow weights, moments, delay parameters, a flat copy
#: of the gradients and the temporaries of a step over all of them), the last and best parameters, gradients and the
#: compiled kernels' transposed copies.
TRAINING_PER_SYNAPSE = 224
#: Bytes per sample and neuron of a forward and backward pass (spike times, thresholds, errors, their copies).
PER_SAMPLE_NEURON = 64
#: Bytes of the buffers of PSPs and weighted PSP slopes the backward pass keeps for a block of samples. Small, so that
#: they stay in the cache and need no fresh pages from the system on every call: a 64-100 layer's backward, batch
#: 100, took 1.8 to 2 times as long in one block of 10 MB as in blocks of 1 or 2 MB.
BLOCK_BYTES = 2 * 2**20
#: Bytes per sample and synapse of a forward pass with delay jitter (the draw and its temporaries) and of the
#: vectorised NumPy pass: their samples run in chunks of :data:`CHUNK_BYTES`.
JITTER_BYTES, NUMPY_BYTES = 40, 160
#: Largest block of per-(sample, synapse) numbers a forward pass holds at once (the delay jitter and its
#: temporaries, or the vectorised NumPy reference pass): larger batches are run in chunks of samples.
CHUNK_BYTES = 64 * 2**20


class MemoryLimitError(ValueError):
    """Work that would need more memory than the machine has available."""


def synapse_count(sizes):
    """Synapses of a dense layered network of ``sizes`` (an upper bound for a sparse one)."""
    return sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))


def network_bytes(sizes):
    """Estimated bytes of a :class:`~brian2_delgrad.core.network.DelayNetwork` of ``sizes``.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.

    Returns
    -------
    int
        ``NETWORK_PER_SYNAPSE`` x synapses of the dense network (an upper
        bound for a sparse one).

    Examples
    --------
    >>> network_bytes([4, 30, 3])
    10080
    """
    return NETWORK_PER_SYNAPSE * synapse_count(sizes)


def training_bytes(sizes, batch_size, jitter=False):
    """Estimated peak bytes of training a network of ``sizes`` with batches of ``batch_size`` samples.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first (dense: an upper bound for a sparse network).
    batch_size : int
        Samples per batch.
    jitter : bool
        The substrate draws delay jitter (a bounded chunk of numbers per sample and synapse).

    Returns
    -------
    int
        An upper bound of the peak (see the table of the module docstring).
    """
    batch = int(batch_size)
    widest = max(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return (TRAINING_PER_SYNAPSE * synapse_count(sizes) + PER_SAMPLE_NEURON * batch * sum(map(int, sizes))
            + 16 * widest * chunk_size(batch, 16 * widest, BLOCK_BYTES)
            + (max(JITTER_BYTES * widest, min(CHUNK_BYTES, JITTER_BYTES * batch * widest)) if jitter else 0))


def available_bytes():
    """Memory this process may still take.

    Returns
    -------
    int or None
        Bytes: ``MemAvailable`` of ``/proc/meminfo``, within a cgroup's limit
        (less what the cgroup uses, its inactive page cache excepted); else
        the available physical pages of ``os.sysconf``; ``None`` where none of
        these can be read (then nothing is refused).
    """
    found = []
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as current:
            text, used = limit.read().strip(), int(current.read().strip())
        if text != "max":
            with open("/sys/fs/cgroup/memory.stat") as stat:      # page cache the kernel can drop is available
                cache = next((int(line.split()[1]) for line in stat if line.startswith("inactive_file ")), 0)
            found.append(int(text) - used + cache)
    except (OSError, ValueError, IndexError):
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    return min(found) if found else None


def describe_bytes(count):
    """``count`` bytes for people: ``'1.25 GB'``, ``'23.2 GB'``, ``'350 MB'``."""
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if count >= size:
            value = count / size
            return f"{value:.{0 if value >= 100 else 1 if value >= 10 else 2}f} {unit}"
    return f"{count} B"


def check_fits(needed, what):
    """Raise :class:`MemoryLimitError` (``'<what> needs about X; Y available'``) if ``needed`` bytes do not fit."""
    free = available_bytes()
    if free is not None and needed > free:
        raise MemoryLimitError(f"{what} needs about {describe_bytes(needed)} of memory; this machine has "
                               f"{describe_bytes(free)} available")


def check_training(sizes, batch_size, jitter=False, name=None):
    """Refuse (:class:`MemoryLimitError`) training a ``sizes`` network in batches of ``batch_size`` if it would not
    fit (:func:`training_bytes`); ``name`` (a model file's) starts the message."""
    check_fits(training_bytes(sizes, batch_size, jitter), f"{name + ': ' if name else ''}training a {list(sizes)} "
                                                          f"network in batches of {batch_size}")


def chunk_size(rows, bytes_per_row, budget=CHUNK_BYTES):
    """Rows of ``bytes_per_row`` bytes that fit in ``budget`` bytes: at least one, at most ``rows`` (all if a row costs
    nothing)."""
    return max(1, rows if bytes_per_row <= 0 else min(rows, budget // bytes_per_row))


def chunk_rows(rows, bytes_per_row, budget=CHUNK_BYTES):
    """Slices of ``range(rows)`` holding at most ``budget`` bytes each (at least one row each)."""
    step = chunk_size(rows, bytes_per_row, budget)
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]
