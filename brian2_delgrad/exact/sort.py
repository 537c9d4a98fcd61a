"""The compiled kernels' sort of a neuron's arrival times: stable, bucketed, and skipped when an order still holds."""
import math

import numpy as np

from .jit import jit

__all__ = ["SMALL", "BUCKETS", "GROUP", "still_sorted", "sort_scratch", "stable_sort"]


#: Up to this many finite values the sort is one insertion sort, without buckets.
SMALL = 16
#: Buckets per finite value of :func:`stable_sort`.
BUCKETS = 4
#: Samples the forward pass takes neuron by neuron together (each keeps an order of n_pre integers).
GROUP = 16


@jit(inline="always")
def still_sorted(values, orders, g, n_finite):
    """Whether ``orders[g]`` (an earlier neuron's) is the stable sort of ``values``, with ``n_finite`` finite ones.

    Without synaptic delays (or jitter) the arrival order is the same for every neuron of a layer,
    so one sort per sample serves them all; this check (linear) makes sure, tie order included.
    """
    n = values.size
    previous = -math.inf
    for k in range(n_finite):                       # in one pass, leaving at the first value out of order
        value = values[orders[g, k]]
        if not math.isfinite(value):
            return False
        if k > 0 and (previous > value or (previous == value and orders[g, k - 1] > orders[g, k])):
            return False
        previous = value
    for k in range(n_finite, n):
        if math.isfinite(values[orders[g, k]]):
            return False
    return True

@jit(inline="always")
def sort_scratch(n):
    """``(order, counts, runs)`` for :func:`stable_sort` of up to ``n`` values: the only place their sizes are
    set (the sort checks no bounds: a smaller ``counts`` would be written past its end)."""
    return np.empty(n, dtype=np.int64), np.empty(BUCKETS * n + 2, dtype=np.int64), np.empty((2, n), dtype=np.int64)


@jit(_nrt=False)
def stable_sort(values, order, counts, runs):
    """Stable argsort of ``values`` into ``order``, non-finite last; returns the number of finite values.

    Bucket sort (linear for spread-out values; :data:`BUCKETS` buckets per finite value, so that few
    share one) with an insertion pass for the order within a bucket; if that pass has to move much
    (values bunched into few buckets) a bottom-up merge sort takes over. The passes over the values
    decide with selections, not branches: which inputs are silent changes with every sample, so a
    branch on it would be mispredicted (measured on different batches in turn: the Yin-Yang output
    layer's sorts 133 -> 106 us a batch, 784 spiking inputs 7.1 -> 5.7 us a sort). Scratch: ``counts``
    of length ``BUCKETS * values.size + 2``, ``runs`` of shape ``(2, values.size)``.
    Compiled without numba's reference counting (``_nrt=False``: it allocates nothing): numba
    otherwise counts references to the arrays passed in with atomic operations, which took a
    quarter of the time of a 4 -> 30 layer and are contended by the threads.
    """
    n = values.size
    if n <= SMALL:                                  # a few inputs: one insertion sort, no buckets
        return _insertion_sort(values, order)
    low, high, n_finite = math.inf, -math.inf, 0
    for i in range(n):
        x = values[i]
        finite = math.isfinite(x)
        n_finite += finite
        low = min(low, x if finite else math.inf)
        high = max(high, x if finite else -math.inf)
    if n_finite == 0:
        for i in range(n):
            order[i] = i
        return 0
    buckets = 1 if n_finite <= SMALL else BUCKETS * n_finite    # a few finite inputs: one insertion sort
    scale = buckets / (high - low) if high > low else 0.0
    if not 0.0 < scale < math.inf:                  # one value, a subnormal spread (scale inf) or one that
        buckets, scale = 1, 0.0                     # overflows (scale 0, and inf * 0 below): one bucket
    for k in range(buckets + 2):
        counts[k] = 0
    bucket_of = runs[0]                             # (the merge sort's scratch, free until then)
    for i in range(n):                              # the non-finite values in bucket `buckets`, after the others
        x = values[i]
        finite = math.isfinite(x)
        position = (x - low) * scale if finite and scale > 0.0 else 0.0    # (never inf * 0)
        bucket = min(int(position), buckets - 1) if finite else buckets
        bucket_of[i] = bucket
        counts[bucket + 1] += 1
    for k in range(buckets + 1):
        counts[k + 1] += counts[k]
    for i in range(n):                              # in index order: stable within a bucket
        bucket = bucket_of[i]
        order[counts[bucket]] = i
        counts[bucket] += 1
    moves, limit = 0, 8 * n_finite + 64
    for k in range(1, n_finite):                    # buckets are in value order: sort within them
        i = order[k]
        x = values[i]
        m = k
        while m > 0 and values[order[m - 1]] > x:
            order[m] = order[m - 1]
            m -= 1
        order[m] = i
        moves += k - m
        if moves > limit:
            break
    if moves <= limit:
        return n_finite
    for k in range(n_finite):                       # merge sort, passes between the rows of runs
        runs[0, k] = order[k]
    source, width = 0, 1
    while width < n_finite:
        for first in range(0, n_finite, 2 * width):
            middle, last = min(first + width, n_finite), min(first + 2 * width, n_finite)
            i, j = first, middle
            for k in range(first, last):
                if j < last and (i >= middle or values[runs[source, j]] < values[runs[source, i]]):
                    runs[1 - source, k] = runs[source, j]
                    j += 1
                else:
                    runs[1 - source, k] = runs[source, i]
                    i += 1
        source, width = 1 - source, 2 * width
    for k in range(n_finite):
        order[k] = runs[source, k]
    return n_finite


@jit(inline="always")
def _insertion_sort(values, order):
    """:func:`stable_sort` of a few values: the finite ones in index order, then sorted by insertion (stable)."""
    n_finite = 0
    for i in range(values.size):
        if math.isfinite(values[i]):
            order[n_finite] = i
            n_finite += 1
    tail = n_finite
    for i in range(values.size):
        if not math.isfinite(values[i]):
            order[tail] = i
            tail += 1
    for k in range(1, n_finite):
        i = order[k]
        x = values[i]
        m = k
        while m > 0 and values[order[m - 1]] > x:
            order[m] = order[m - 1]
            m -= 1
        order[m] = i
    return n_finite
