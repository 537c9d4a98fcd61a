"""The compiled backward pass: dL/dw and dL/dt~ of a layer from spike times only, in blocks of samples.

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
kernel's SymPy-derived PSP and its derivative, ``psp_and_slope(s)``, which the loops call by name;
:mod:`~brian2_delgrad.exact.gradients` is the reference. A sample's errors go back through every layer without
the other samples (:func:`sample_terms`): on several threads a block of samples goes in two parallel regions,
the terms of its samples (the exponentials: most of the work), split by samples, then the sums over the block,
split by synapses. On one thread each sample's terms are added as soon as they are known. Every sum runs in
the same order either way. The one-thread pass never touches numba's threading layer.
"""
import math

import numba
import numpy as np

from .jit import jit

__all__ = ["backward_serial", "backward_parallel"]


@jit(inline="always")
def _columns(first, last, width, row):
    """The columns of ``row`` among the cells ``first`` to ``last - 1`` of a table ``width`` wide, row by row."""
    return max(first - row * width, 0), min(last - row * width, width)


@jit()
def layer_terms(pre, post, weights, delays, delta, limit, connected, first, last, block_first, kernels, slopes, scale,
                active, dropped, grad_w, grad_arrival, grad_pre, add):
    """The terms of the (sample, neuron) pairs of one layer for the samples ``first`` to ``last - 1`` of the block at
    ``block_first``, sample ``b`` into row ``b - block_first`` of ``kernels`` and ``slopes`` (row 0 with ``add``).

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
            if limit < math.inf:
                grazing = not slope > 0              # V'(T) <= 0 or NaN: no gradient exists
                for i in range(n_pre):
                    if not abs(kernels[row, j, i] / slope * error) <= limit:
                        grazing = True
                if grazing:                          # drop this (sample, neuron) error
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
def layer_buffers(times, weights, block):
    """The working arrays of a backward pass ``block`` samples at a time: per connection layer ``(kernels, slopes,
    scale, active, dropped)`` as :func:`layer_terms` fills them, and dL/dt of every layer's spike times (zeros;
    the last is the caller's to fill)."""
    batch = times[0].shape[0]
    buffers = [(np.empty((block,) + w.shape), np.empty((block,) + w.shape), np.empty((batch, w.shape[0])),
                np.zeros((batch, w.shape[0]), dtype=np.bool_), np.zeros((batch, w.shape[0]), dtype=np.bool_))
               for w in weights]
    return buffers, [np.zeros(t.shape) for t in times]


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
    """Every sample through every layer on one thread, in order: fills ``grad_w`` and ``grad_arrival``
    (parameters transposed; zeroed first), returns (dL/dt of the inputs, guarded)."""
    buffers, deltas = layer_buffers(times, weights, 1)
    deltas[-1][:, :] = delta
    for k in range(len(grad_w)):
        grad_w[k][:, :] = 0.0
        grad_arrival[k][:, :] = 0.0
    sample_terms(times, weights, delays, deltas, limit, connected, 0, delta.shape[0], 0, buffers, grad_w, grad_arrival,
                 True)
    return deltas[0], guarded_pairs(buffers)


@jit()
def backward_parallel(times, weights, delays, delta, limit, connected, block, grad_w, grad_arrival, threads):
    """:func:`backward_serial` on ``threads`` threads, ``block`` samples at a time: their terms, then their sums,
    in ``4 * threads`` parts each (numba's ``get_num_threads`` in compiled code would keep it out of the disk
    cache)."""
    buffers, deltas = layer_buffers(times, weights, block)
    deltas[-1][:, :] = delta
    for k in range(len(grad_w)):
        grad_w[k][:, :] = 0.0
        grad_arrival[k][:, :] = 0.0
    for first in range(0, delta.shape[0], block):
        size = min(block, delta.shape[0] - first)
        terms_parallel(times, weights, delays, deltas, limit, connected, first, size, buffers, grad_w, grad_arrival,
                       min(size, 4 * threads))
        sums_parallel(first, size, buffers, grad_w, grad_arrival, 4 * threads)
    return deltas[0], guarded_pairs(buffers)
