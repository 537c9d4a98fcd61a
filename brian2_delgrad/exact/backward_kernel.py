"""The compiled backward pass: dL/dw and dL/dt~ of a layer from spike times only, in blocks of samples.

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
kernel's SymPy-derived PSP and its derivative, ``psp_and_slope(s)``, which the loops call by name;
:mod:`~brian2_delgrad.exact.gradients` is the reference. On several threads a block of samples goes in two
steps, each split evenly across the threads: the terms of its (sample, neuron) pairs (the exponentials: most of
the work), then the sums over the block. On one thread each pair's terms are added as soon as they are known.
Every sum runs in the same order either way. The one-thread pass never touches numba's threading layer.
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
def pair_terms(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
               dropped, p_first, p_last, grad_w, grad_arrival, grad_pre, add):
    """The terms of the (sample, neuron) pairs ``p_first`` to ``p_last - 1`` of the block at sample ``first``.

    Pairs are numbered ``(b - first) * n_post + j``. For a pair with an error, ``kernels[b - first, j, i]``
    receives ``K(T_j - t~_ij)`` and ``slopes[b - first, j, i]`` ``w_ij K'(T_j - t~_ij)`` (0 outside the
    causal set), ``scale[b, j]`` the error over ``V'(T_j)``, ``active[b, j]`` whether the error goes back
    and ``dropped[b, j]`` whether the grazing guard dropped it; the rows of other pairs are left as they
    are. With ``add`` (pairs in order, one thread) an active pair's terms go into the sums at once, as
    :func:`block_sums` would add them.
    """
    n_post, n_pre = weights.shape
    for block_b in range(p_first // n_post, -(-p_last // n_post)):
        b = first + block_b
        j_first, j_last = _columns(p_first, p_last, n_post, block_b)
        for j in range(j_first, j_last):
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
                    kernels[block_b, j, i], rate = psp_and_slope(lag)
                    slopes[block_b, j, i] = rate * weights[j, i]
                    slope += slopes[block_b, j, i]
                else:
                    kernels[block_b, j, i] = 0.0
                    slopes[block_b, j, i] = 0.0
            if limit < math.inf:
                grazing = not slope > 0              # V'(T) <= 0 or NaN: no gradient exists
                for i in range(n_pre):
                    if not abs(kernels[block_b, j, i] / slope * error) <= limit:
                        grazing = True
                if grazing:                          # drop this (sample, neuron) error
                    dropped[b, j] = True
                    continue
            scale[b, j] = error / slope
            active[b, j] = True
            if add:                                  # as block_sums: every synapse, causal or not
                factor = scale[b, j]
                for i in range(n_pre):
                    grad_w[j, i] -= kernels[block_b, j, i] * factor
                    grad_arrival[j, i] += slopes[block_b, j, i] * factor
                    grad_pre[b, i] += slopes[block_b, j, i] * factor


@jit()
def block_sums(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre, part, n_parts):
    """Part ``part`` of ``n_parts`` of the sums over the block at sample ``first`` (after :func:`pair_terms`).

    dL/dw and dL/dt~ of a range of synapses (numbered ``j * n_pre + i``), summed over the samples in
    order (every synapse of an active pair, causal or not: a non-finite scale reaches them all), and
    dL/dt_pre of a range of (sample, input) pairs (numbered ``(b - first) * n_pre + i``), summed over the
    neurons in order.
    """
    n_block, n_post, n_pre = kernels.shape
    low, high = part * n_post * n_pre // n_parts, (part + 1) * n_post * n_pre // n_parts
    for j in range(low // n_pre, -(-high // n_pre)):
        i_first, i_last = _columns(low, high, n_pre, j)
        for block_b in range(n_block):
            b = first + block_b
            if active[b, j]:
                for i in range(i_first, i_last):
                    grad_w[j, i] -= kernels[block_b, j, i] * scale[b, j]
                    grad_arrival[j, i] += slopes[block_b, j, i] * scale[b, j]
    low, high = part * n_block * n_pre // n_parts, (part + 1) * n_block * n_pre // n_parts
    for block_b in range(low // n_pre, -(-high // n_pre)):
        b = first + block_b
        i_first, i_last = _columns(low, high, n_pre, block_b)
        for j in range(n_post):
            if active[b, j]:
                for i in range(i_first, i_last):
                    grad_pre[b, i] += slopes[block_b, j, i] * scale[b, j]


@jit(parallel=True)
def pairs_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                   dropped, grad_w, grad_arrival, grad_pre, n_parts):
    n_pairs = kernels.shape[0] * kernels.shape[1]
    for part in numba.prange(n_parts):              # the (sample, neuron) pairs split across threads
        pair_terms(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                   dropped, part * n_pairs // n_parts, (part + 1) * n_pairs // n_parts, grad_w, grad_arrival,
                   grad_pre, False)


@jit(parallel=True)
def sums_parallel(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre, n_parts):
    for part in numba.prange(n_parts):              # the synapses and the (sample, input) pairs split
        block_sums(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre, part, n_parts)


@jit()
def block_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                   dropped, grad_w, grad_arrival, grad_pre, n_parts):
    """The block at sample ``first`` in ``n_parts`` parts on the threads: :func:`pair_terms`, then
    :func:`block_sums`. Two parallel functions, so that numba cannot fuse the two loops: every sum needs every
    pair's terms first."""
    pairs_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                   dropped, grad_w, grad_arrival, grad_pre, n_parts)
    sums_parallel(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre, n_parts)


@jit()
def layer_buffers(pre, post, weights, block, grad_w, grad_arrival):
    """Zero ``grad_w`` and ``grad_arrival``; the working arrays of a layer's pass, ``block`` samples at a time:
    (dL/dt_pre, scale, active, dropped, kernels, slopes) as :func:`pair_terms` fills them."""
    grad_w[:, :] = 0.0
    grad_arrival[:, :] = 0.0
    active, dropped = np.empty(post.shape, dtype=np.bool_), np.empty(post.shape, dtype=np.bool_)
    return (np.zeros(pre.shape), np.empty(post.shape), active, dropped, np.empty((block,) + weights.shape),
            np.empty((block,) + weights.shape))


@jit()
def backward_serial(times, weights, delays, delta, limit, connected, blocks, grad_w, grad_arrival):
    """Every layer on one thread, the last first (dL/dt of a layer's inputs is the delta of the one below): fills
    ``grad_w`` and ``grad_arrival`` (parameters transposed), returns (dL/dt of the inputs, guarded)."""
    guarded = 0
    for k in range(len(weights) - 1, -1, -1):
        pre, post, block = times[k], times[k + 1], blocks[k]
        grad_pre, scale, active, dropped, kernels, slopes = layer_buffers(pre, post, weights[k], block, grad_w[k],
                                                                          grad_arrival[k])
        for first in range(0, pre.shape[0], block):
            size = min(block, pre.shape[0] - first)
            pair_terms(pre, post, weights[k], delays[k], delta, limit, connected[k], first, kernels[:size],
                       slopes[:size], scale, active, dropped, 0, size * weights[k].shape[0], grad_w[k],
                       grad_arrival[k], grad_pre, True)
        delta = grad_pre
        guarded += dropped.sum()
    return delta, guarded


@jit()
def backward_parallel(times, weights, delays, delta, limit, connected, blocks, grad_w, grad_arrival, threads):
    """:func:`backward_serial` on ``threads`` threads: each block in two parallel regions (:func:`block_parallel`,
    ``4 * threads`` parts each; numba's ``get_num_threads`` in compiled code would keep it out of the disk cache)."""
    guarded = 0
    for k in range(len(weights) - 1, -1, -1):
        pre, post, block = times[k], times[k + 1], blocks[k]
        grad_pre, scale, active, dropped, kernels, slopes = layer_buffers(pre, post, weights[k], block, grad_w[k],
                                                                          grad_arrival[k])
        for first in range(0, pre.shape[0], block):
            size = min(block, pre.shape[0] - first)
            block_parallel(pre, post, weights[k], delays[k], delta, limit, connected[k], first, kernels[:size],
                           slopes[:size], scale, active, dropped, grad_w[k], grad_arrival[k], grad_pre, 4 * threads)
        delta = grad_pre
        guarded += dropped.sum()
    return delta, guarded
