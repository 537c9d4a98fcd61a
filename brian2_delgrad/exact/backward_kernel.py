"""The compiled backward pass: dL/dw and dL/dt~ of every layer from spike times only.

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
kernel's SymPy-derived PSP and its derivative, ``psp_and_slope(s)``, and its membrane and slope, which the loops
call by name; :mod:`~brian2_delgrad.exact.gradients` is the reference. Two schemes, by the network's width
(:data:`WIDE`), each the same numbers bit for bit on any thread count:

- narrow (Yin-Yang, digits): a sample's errors go back through every layer without the other samples
  (:func:`sample_terms`); on several threads a block of samples goes in two parallel regions, the terms of its
  samples split by samples, then the sums over the block split by synapses; on one thread each sample's terms
  are added as soon as they are known.
- wide (MNIST-sized inputs): layer after layer, its neurons in fixed chunks split across threads, every sample in
  order within a chunk (:func:`wide_layers_serial`): no working memory of size ``batch x synapses``; PSPs from
  per-input statistics where the neurons share the arrivals.

The one-thread pass never touches numba's threading layer.
"""
import math

import numba
import numpy as np

from .jit import jit

__all__ = ["backward_serial", "backward_parallel", "wide_backward_serial", "wide_backward_parallel", "WIDE"]

#: A network with a layer of at least this many inputs is wide: it goes back layer by layer in chunks of neurons
#: (:func:`wide_layers_serial`), and where a wide layer's neurons share the arrivals its PSPs come from one pair of
#: statistics per input and sample (:func:`pair_terms`); a narrow network's from an exponential per synapse.
WIDE = 128
#: The largest span, in units of tau_s, of a sample's arrivals and a spike from its first arrival for which the
#: statistics are used (exponents far from overflow, cancellation below 1e-13 of the PSP's scale).
WINDOW = 30.0
#: Neurons per chunk of a wide network's backward pass (:func:`wide_layers_serial`): the unit of a thread's work,
#: fixed, so that every thread count sums in the same order.
CHUNK = 16


@jit(inline="always")
def _columns(first, last, width, row):
    """The columns of ``row`` among the cells ``first`` to ``last - 1`` of a table ``width`` wide, row by row."""
    return max(first - row * width, 0), min(last - row * width, width)


@jit(inline="always")
def grazing(kernels, row, column, rise, error, limit):
    """The grazing guard (with a finite ``limit``): whether ``V'(T) = rise`` is not positive (no gradient exists) or
    some input's ``|error K / V'(T)|`` exceeds ``limit``."""
    if not limit < math.inf:
        return False
    dropped = not rise > 0
    for i in range(kernels.shape[2]):
        if not abs(kernels[row, column, i] / rise * error) <= limit:
            dropped = True
    return dropped


@jit(inline="always")
def sample_statistics(pre, delays, b, g0, g1, row):
    """The first arrival of sample ``b`` at a layer whose neurons share the arrivals (delays of neuron 0), and the
    span of its arrivals from it; where that is within :data:`WINDOW`, the statistics of each arrival from the
    first into ``g0[row]``, ``g1[row]``."""
    origin, last_arrival = math.inf, -math.inf
    for i in range(pre.shape[1]):
        arrival = pre[b, i] + delays[0, i]
        if math.isfinite(arrival):
            origin, last_arrival = min(origin, arrival), max(last_arrival, arrival)
    span = last_arrival - origin
    if span <= WINDOW:
        for i in range(pre.shape[1]):
            arrival = pre[b, i] + delays[0, i]
            if math.isfinite(arrival):
                g0[row, i], g1[row, i] = statistics_at(arrival - origin)
    return origin, span


@jit(inline="always")
def pair_terms(pre, post, weights, delays, delta, limit, connected, b, j, kernels, slopes, row, column, scale, active,
               dropped, g0, g1, g_row, origin, span):
    """The terms of the pair (sample ``b``, neuron ``j``); returns whether its error goes back.

    For a pair with an error, ``kernels[row, column, i]`` receives ``K(T_j - t~_ij)`` and ``slopes[row, column, i]``
    ``w_ij K'(T_j - t~_ij)`` (0 outside the causal set), ``scale[b, j]`` the error over ``V'(T_j)``,
    ``active[b, j]`` whether the error goes back and ``dropped[b, j]`` whether the grazing guard dropped it.
    Where the sample's arrivals and the spike lie within :data:`WINDOW` of its first arrival (``origin``, ``span``
    of :func:`sample_statistics`, whose statistics are in row ``g_row``), ``K`` and ``K'`` are the membrane and its
    slope at ``T`` of input ``i`` alone, linear in its two statistics: no exponential per synapse; otherwise each
    comes from ``psp_and_slope``.
    """
    active[b, j] = False                             # no error leaves this (sample, neuron)
    dropped[b, j] = False
    error = delta[b, j]
    T = post[b, j]
    if error == 0.0 or not math.isfinite(T):
        return False
    direct = not (span <= WINDOW and T - origin <= WINDOW)
    A0, A1, B0, B1 = 0.0, 0.0, 0.0, 0.0
    if not direct:                                   # K and K' of one input as the membrane of its statistics
        A0, A1 = membrane(T - origin, 1.0, 0.0), membrane(T - origin, 0.0, 1.0)
        B0, B1 = slope(T - origin, 1.0, 0.0), slope(T - origin, 0.0, 1.0)
    n_pre = weights.shape[1]
    if direct:
        for i in range(n_pre):
            lag = T - pre[b, i] - delays[j, i]
            if connected[j, i] and math.isfinite(lag) and lag > 0:
                kernels[row, column, i], rate = psp_and_slope(lag)
                slopes[row, column, i] = rate * weights[j, i]
            else:
                kernels[row, column, i] = 0.0
                slopes[row, column, i] = 0.0
    else:                                            # without branches: a loop the compiler vectorises
        for i in range(n_pre):
            lag = T - pre[b, i] - delays[j, i]
            causal = connected[j, i] and lag > 0 and lag < math.inf
            kernel = A0 * g0[g_row, i] + A1 * g1[g_row, i]
            rate = B0 * g0[g_row, i] + B1 * g1[g_row, i]
            kernels[row, column, i] = kernel if causal else 0.0
            slopes[row, column, i] = rate * weights[j, i] if causal else 0.0
    # V'(T): four running sums (every fourth input), so that the additions need not wait for each other
    rise0, rise1, rise2, rise3 = 0.0, 0.0, 0.0, 0.0
    quads = n_pre - n_pre % 4
    for i in range(0, quads, 4):
        rise0 += slopes[row, column, i]
        rise1 += slopes[row, column, i + 1]
        rise2 += slopes[row, column, i + 2]
        rise3 += slopes[row, column, i + 3]
    for i in range(quads, n_pre):
        rise0 += slopes[row, column, i]
    rise = (rise0 + rise1) + (rise2 + rise3)
    if grazing(kernels, row, column, rise, error, limit):     # drop this (sample, neuron) error
        dropped[b, j] = True
        return False
    scale[b, j] = error / rise
    active[b, j] = True
    return True


@jit()
def layer_terms(pre, post, weights, delays, delta, limit, connected, first, last, block_first, kernels, slopes, scale,
                active, dropped, grad_w, grad_arrival, grad_pre, add):
    """The terms of the (sample, neuron) pairs of one layer for the samples ``first`` to ``last - 1`` of the block at
    ``block_first``, sample ``b`` into row ``b - block_first`` of ``kernels`` and ``slopes`` (row 0 with ``add``), as
    :func:`pair_terms` computes them with ``psp_and_slope`` (a narrow network's loop, kept apart: calling
    pair_terms here made the Yin-Yang backward pass 13-30 % slower).

    For a pair with an error, ``kernels[row, j, i]`` receives ``K(T_j - t~_ij)`` and ``slopes[row, j, i]``
    ``w_ij K'(T_j - t~_ij)`` (0 outside the causal set), ``scale[b, j]`` the error over ``V'(T_j)``,
    ``active[b, j]`` whether the error goes back and ``dropped[b, j]`` whether the grazing guard dropped it;
    the rows of other pairs are left as they are. With ``add`` (samples in order, one thread) an active pair's
    terms go into the sums at once, as :func:`synapse_sums` and :func:`input_sums` would add them. One call per
    range of samples: numba counts the references to the arrays of a call with atomic operations, which threads
    contend for.
    """
    n_post, n_pre = weights.shape
    for b in range(first, last):
        row = 0 if add else b - block_first
        for j in range(n_post):
            active[b, j] = False                     # no error leaves this (sample, neuron)
            dropped[b, j] = False
            error = delta[b, j]
            T = post[b, j]
            if error == 0.0 or not math.isfinite(T):
                continue
            slope = 0.0
            for i in range(n_pre):
                lag = T - pre[b, i] - delays[j, i]
                if connected[j, i] and math.isfinite(lag) and lag > 0:
                    kernels[row, j, i], rate = psp_and_slope(lag)
                    slopes[row, j, i] = rate * weights[j, i]
                    slope += slopes[row, j, i]
                else:
                    kernels[row, j, i] = 0.0
                    slopes[row, j, i] = 0.0
            if grazing(kernels, row, j, slope, error, limit):   # drop this (sample, neuron) error
                dropped[b, j] = True
                continue
            scale[b, j] = error / slope
            active[b, j] = True
            if add:                                  # as the sums: every synapse, causal or not
                factor = scale[b, j]
                for i in range(n_pre):
                    grad_w[j, i] -= kernels[row, j, i] * factor
                    grad_arrival[j, i] += slopes[row, j, i] * factor
                    grad_pre[b, i] += slopes[row, j, i] * factor


@jit()
def sample_terms(times, weights, delays, deltas, limit, connected, first, last, block_first, buffers, grad_w,
                 grad_arrival, add):
    """The errors of the samples ``first`` to ``last - 1`` back through every layer, the last first: :func:`layer_terms`
    of each, its dL/dt of the layer's inputs (summed over the neurons in order) the error of the layer below
    (``deltas[k]``, zeros). A sample needs no other sample's terms.

    ``buffers`` holds per connection layer ``(kernels, slopes, scale, active, dropped)`` of :func:`layer_buffers`.
    """
    for k in range(len(weights) - 1, -1, -1):
        kernels, slopes, scale, active, dropped = buffers[k]
        layer_terms(times[k], times[k + 1], weights[k], delays[k], deltas[k + 1], limit, connected[k], first, last,
                    block_first, kernels, slopes, scale, active, dropped, grad_w[k], grad_arrival[k], deltas[k], add)
        if not add:
            n_pre = weights[k].shape[1]
            input_sums(block_first, slopes, scale, active, deltas[k], (first - block_first) * n_pre,
                       (last - block_first) * n_pre)


@jit()
def synapse_sums(first, size, kernels, slopes, scale, active, grad_w, grad_arrival, low, high):
    """dL/dw and dL/dt~ of the synapses ``low`` to ``high - 1`` (numbered ``j * n_pre + i``), summed in order over
    the ``size`` samples of the block at sample ``first`` (every synapse of an active pair, causal or not: a
    non-finite scale reaches them all)."""
    n_pre = kernels.shape[2]
    for j in range(low // n_pre, -(-high // n_pre)):
        i_first, i_last = _columns(low, high, n_pre, j)
        for row in range(size):
            b = first + row
            if active[b, j]:
                for i in range(i_first, i_last):
                    grad_w[j, i] -= kernels[row, j, i] * scale[b, j]
                    grad_arrival[j, i] += slopes[row, j, i] * scale[b, j]


@jit()
def input_sums(first, slopes, scale, active, grad_pre, low, high):
    """dL/dt_pre of the (sample, input) pairs ``low`` to ``high - 1`` of the block at sample ``first`` (numbered
    ``(b - first) * n_pre + i``), summed over the neurons in order."""
    n_post, n_pre = slopes.shape[1:]
    for row in range(low // n_pre, -(-high // n_pre)):
        b = first + row
        i_first, i_last = _columns(low, high, n_pre, row)
        for j in range(n_post):
            if active[b, j]:
                for i in range(i_first, i_last):
                    grad_pre[b, i] += slopes[row, j, i] * scale[b, j]


@jit()
def factorised_layer(weights, delays):
    """Whether a layer's PSPs come from per-input statistics: at least :data:`WIDE` inputs, every neuron with the
    same delay from each (:func:`shared_order`)."""
    return weights.shape[1] >= WIDE and shared_order(delays)


@jit()
def layer_buffers(times, weights, block, rows):
    """The working arrays of a backward pass ``block`` samples at a time: per connection layer ``(kernels, slopes,
    scale, active, dropped)`` as :func:`layer_terms` fills them, and dL/dt of every layer's spike times (zeros; the
    last is the caller's to fill); all but the first two for ``rows`` samples (the batch; 0 for a forward pass)."""
    buffers = [(np.empty((block,) + weights[k].shape), np.empty((block,) + weights[k].shape),
                np.empty((rows, weights[k].shape[0])), np.zeros((rows, weights[k].shape[0]), dtype=np.bool_),
                np.zeros((rows, weights[k].shape[0]), dtype=np.bool_)) for k in range(len(weights))]
    return buffers, [np.zeros((rows, t.shape[1])) for t in times]


@jit(parallel=True)
def sums_parallel(first, size, buffers, grad_w, grad_arrival, n_parts):
    """:func:`synapse_sums` of every layer over the block at sample ``first``, each layer's synapses split into
    ``n_parts`` parts across the threads (one parallel region)."""
    for part in numba.prange(n_parts):
        for k in range(len(grad_w)):
            kernels, slopes, scale, active, dropped = buffers[k]
            n_synapses = grad_w[k].size
            synapse_sums(first, size, kernels, slopes, scale, active, grad_w[k], grad_arrival[k],
                         part * n_synapses // n_parts, (part + 1) * n_synapses // n_parts)


@jit()
def guarded_pairs(buffers):
    """(sample, neuron) errors dropped by the grazing guard, over every layer."""
    guarded = 0
    for k in range(len(buffers)):
        guarded += buffers[k][4].sum()
    return guarded


@jit(parallel=True)
def terms_parallel(times, weights, delays, deltas, limit, connected, first, size, buffers, grad_w, grad_arrival,
                   n_parts):
    for part in numba.prange(n_parts):               # the block's samples split across threads
        sample_terms(times, weights, delays, deltas, limit, connected, first + part * size // n_parts,
                     first + (part + 1) * size // n_parts, first, buffers, grad_w, grad_arrival, False)


@jit()
def backward_serial(times, weights, delays, delta, limit, connected, block, grad_w, grad_arrival):
    """A narrow network's backward pass: every sample through every layer on one thread, in order; fills ``grad_w``
    and ``grad_arrival`` (parameters transposed), returns (dL/dt of the inputs, guarded)."""
    buffers, deltas = backward_buffers(times, weights, delta, 1, grad_w, grad_arrival)
    sample_terms(times, weights, delays, deltas, limit, connected, 0, delta.shape[0], 0, buffers, grad_w, grad_arrival,
                 True)
    return deltas[0], guarded_pairs(buffers)


@jit()
def backward_parallel(times, weights, delays, delta, limit, connected, block, grad_w, grad_arrival, threads):
    """:func:`backward_serial` on ``threads`` threads, ``block`` samples at a time: their terms, then their sums,
    in ``4 * threads`` parts each (numba's ``get_num_threads`` in compiled code would keep it out of the disk
    cache)."""
    buffers, deltas = backward_buffers(times, weights, delta, block, grad_w, grad_arrival)
    for first in range(0, delta.shape[0], block):
        size = min(block, delta.shape[0] - first)
        terms_parallel(times, weights, delays, deltas, limit, connected, first, size, buffers, grad_w, grad_arrival,
                       min(size, 4 * threads))
        sums_parallel(first, size, buffers, grad_w, grad_arrival, 4 * threads)
    return deltas[0], guarded_pairs(buffers)


@jit()
def backward_buffers(times, weights, delta, block, grad_w, grad_arrival):
    """:func:`layer_buffers` of a backward pass from ``delta``, its last error; ``grad_w`` and ``grad_arrival``
    zeroed."""
    buffers, deltas = layer_buffers(times, weights, block, delta.shape[0])
    deltas[-1][:, :] = delta
    for k in range(len(grad_w)):
        grad_w[k][:, :] = 0.0
        grad_arrival[k][:, :] = 0.0
    return buffers, deltas


@jit()
def wide_backward_serial(times, weights, delays, delta, limit, connected, block, grad_w, grad_arrival):
    """:func:`backward_serial` of a wide network: :func:`wide_layers_serial`."""
    buffers, deltas = backward_buffers(times, weights, delta, 0, grad_w, grad_arrival)
    return deltas[0], wide_layers_serial(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival)


@jit()
def wide_backward_parallel(times, weights, delays, delta, limit, connected, block, grad_w, grad_arrival, threads):
    """:func:`backward_parallel` of a wide network: :func:`wide_layers_parallel`."""
    buffers, deltas = backward_buffers(times, weights, delta, 0, grad_w, grad_arrival)
    return deltas[0], wide_layers_parallel(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival,
                                           threads)


@jit()
def chunk_terms(pre, post, weights, delays, delta, limit, connected, scale, active, dropped, g0, g1, origins, spans,
                grad_w, grad_arrival, partial, c_first, c_last):
    """The chunks ``c_first`` to ``c_last - 1`` of a layer's neurons (:data:`CHUNK` each), every sample in order:
    :func:`pair_terms`, added at once into dL/dw and dL/dt~ of the chunk's synapses and into ``partial[c]``, the
    chunk's share of dL/dt of the layer's inputs."""
    n_post, n_pre = weights.shape
    kernels, slopes = np.empty((1, 1, n_pre)), np.empty((1, 1, n_pre))
    for c in range(c_first, c_last):
        for b in range(pre.shape[0]):
            for j in range(c * CHUNK, min((c + 1) * CHUNK, n_post)):
                if pair_terms(pre, post, weights, delays, delta, limit, connected, b, j, kernels, slopes, 0, 0, scale,
                              active, dropped, g0, g1, b if g0.shape[0] else 0, origins[b], spans[b]):
                    factor = scale[b, j]
                    for i in range(n_pre):
                        grad_w[j, i] -= kernels[0, 0, i] * factor
                        grad_arrival[j, i] += slopes[0, 0, i] * factor
                        partial[c, b, i] += slopes[0, 0, i] * factor


@jit()
def chunk_sums(partial, grad_pre, first, last):
    """dL/dt of the inputs of the samples ``first`` to ``last - 1``: the chunks' shares added in order."""
    for b in range(first, last):
        for c in range(partial.shape[0]):
            for i in range(partial.shape[2]):
                grad_pre[b, i] += partial[c, b, i]


@jit()
def layer_statistics(pre, delays, g0, g1, origins, spans, first, last):
    """:func:`sample_statistics` of the samples ``first`` to ``last - 1`` (rows of ``g0``, ``g1``)."""
    for b in range(first, last):
        origins[b], spans[b] = sample_statistics(pre, delays, b, g0, g1, b)


@jit()
def wide_buffers(pre, weights, delays):
    """A layer's working arrays in a wide network: statistics ``(g0, g1, origins, spans)`` (empty and infinite spans
    unless :func:`factorised_layer`), ``(scale, active, dropped)`` per pair, the chunks' shares of dL/dt_pre."""
    batch, (n_post, n_pre) = pre.shape[0], weights.shape
    rows = batch if factorised_layer(weights, delays) else 0
    statistics = (np.zeros((rows, n_pre)), np.zeros((rows, n_pre)), np.full(batch, math.inf), np.full(batch, math.inf))
    pairs = (np.empty((batch, n_post)), np.zeros((batch, n_post), dtype=np.bool_),
             np.zeros((batch, n_post), dtype=np.bool_))
    return statistics, pairs, np.zeros((-(-n_post // CHUNK), batch, n_pre))


@jit()
def wide_layers_serial(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival):
    """The backward pass of a wide network on one thread, layer after layer, the last first: each layer's neurons in
    chunks of :data:`CHUNK` (every sample, in order, per chunk), then dL/dt of its inputs (``deltas[k]``, zeros) as
    the chunks' shares added in order. No working memory of size ``batch x synapses``. Returns the guarded count."""
    guarded = 0
    for k in range(len(weights) - 1, -1, -1):
        pre = times[k]
        (g0, g1, origins, spans), (scale, active, dropped), partial = wide_buffers(pre, weights[k], delays[k])
        if g0.shape[0]:
            layer_statistics(pre, delays[k], g0, g1, origins, spans, 0, pre.shape[0])
        chunk_terms(pre, times[k + 1], weights[k], delays[k], deltas[k + 1], limit, connected[k], scale, active,
                    dropped, g0, g1, origins, spans, grad_w[k], grad_arrival[k], partial, 0, partial.shape[0])
        chunk_sums(partial, deltas[k], 0, pre.shape[0])
        guarded += dropped.sum()
    return guarded


@jit(parallel=True)
def statistics_parallel(pre, delays, g0, g1, origins, spans, n_parts):
    batch = pre.shape[0]
    for part in numba.prange(n_parts):
        layer_statistics(pre, delays, g0, g1, origins, spans, part * batch // n_parts, (part + 1) * batch // n_parts)


@jit(parallel=True)
def chunks_parallel(pre, post, weights, delays, delta, limit, connected, scale, active, dropped, g0, g1, origins,
                    spans, grad_w, grad_arrival, partial, n_parts):
    n_chunks = partial.shape[0]
    for part in numba.prange(n_parts):               # the chunks of neurons split across threads
        chunk_terms(pre, post, weights, delays, delta, limit, connected, scale, active, dropped, g0, g1, origins,
                    spans, grad_w, grad_arrival, partial, part * n_chunks // n_parts, (part + 1) * n_chunks // n_parts)


@jit(parallel=True)
def chunk_sums_parallel(partial, grad_pre, n_parts):
    batch = partial.shape[1]
    for part in numba.prange(n_parts):
        chunk_sums(partial, grad_pre, part * batch // n_parts, (part + 1) * batch // n_parts)


@jit()
def wide_layers_parallel(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival, threads):
    """:func:`wide_layers_serial` on ``threads`` threads: per layer, the statistics and the input sums split by
    samples, the chunks of neurons split across the threads."""
    guarded = 0
    for k in range(len(weights) - 1, -1, -1):
        pre = times[k]
        (g0, g1, origins, spans), (scale, active, dropped), partial = wide_buffers(pre, weights[k], delays[k])
        if g0.shape[0]:
            statistics_parallel(pre, delays[k], g0, g1, origins, spans, min(pre.shape[0], 4 * threads))
        chunks_parallel(pre, times[k + 1], weights[k], delays[k], deltas[k + 1], limit, connected[k], scale, active,
                        dropped, g0, g1, origins, spans, grad_w[k], grad_arrival[k], partial,
                        min(partial.shape[0], 4 * threads))
        chunk_sums_parallel(partial, deltas[k], min(pre.shape[0], 4 * threads))
        guarded += dropped.sum()
    return guarded
