"""The compiled backward pass: dL/dw and dL/dt~ of a layer from spike times only, in blocks of samples.

Built by :func:`make_backward` with a kernel's PSP and its derivative bound in (see
:mod:`~brian2_delgrad.exact.compiled`); :mod:`~brian2_delgrad.exact.gradients` is the reference.
"""
import math

import numba
import numpy as np

__all__ = ["make_backward"]


@numba.njit(inline="always")
def _columns(first, last, width, row):
    """The columns of ``row`` among the cells ``first`` to ``last - 1`` of a table ``width`` wide, row by row."""
    return max(first - row * width, 0), min(last - row * width, width)


def make_backward(psp, dpsp):
    """Compile the backward loops with the kernel's PSP and its derivative bound in: (one thread, several).

    On several threads a block of samples goes in two steps, each split evenly across the threads: the terms
    of its (sample, neuron) pairs (the exponentials: most of the work), then the sums over the block. On one
    thread each pair's terms are added as soon as they are known. Every sum runs in the same order either way.
    """

    @numba.njit(error_model="numpy")
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
                        kernels[block_b, j, i] = psp(lag)
                        slopes[block_b, j, i] = dpsp(lag) * weights[j, i]
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

    @numba.njit(error_model="numpy")
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

    @numba.njit(error_model="numpy")
    def block_serial(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                     dropped, grad_w, grad_arrival, grad_pre):
        pair_terms(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                   dropped, 0, kernels.shape[0] * kernels.shape[1], grad_w, grad_arrival, grad_pre, True)

    @numba.njit(error_model="numpy", parallel=True)
    def pairs_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                       dropped, grad_w, grad_arrival, grad_pre):
        n_pairs = kernels.shape[0] * kernels.shape[1]
        n_parts = 4 * numba.get_num_threads()
        for part in numba.prange(n_parts):              # the (sample, neuron) pairs split across threads
            pair_terms(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                       dropped, part * n_pairs // n_parts, (part + 1) * n_pairs // n_parts, grad_w, grad_arrival,
                       grad_pre, False)

    @numba.njit(error_model="numpy", parallel=True)
    def sums_parallel(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre):
        n_parts = 4 * numba.get_num_threads()
        for part in numba.prange(n_parts):              # the synapses and the (sample, input) pairs split
            block_sums(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre, part, n_parts)

    @numba.njit(error_model="numpy")
    def block_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                       dropped, grad_w, grad_arrival, grad_pre):
        # two functions, so that numba cannot fuse the two loops: every sum needs every pair's terms first
        pairs_parallel(pre, post, weights, delays, delta, limit, connected, first, kernels, slopes, scale, active,
                       dropped, grad_w, grad_arrival, grad_pre)
        sums_parallel(first, kernels, slopes, scale, active, grad_w, grad_arrival, grad_pre)

    def driver(block_gradients):
        @numba.njit(error_model="numpy")
        def layer(pre, post, weights, delays, delta, limit, connected, block, grad_w, grad_arrival):
            """``block`` samples at a time: dL/dw and dL/dt~ into ``grad_w`` and ``grad_arrival`` (parameters
            transposed); returns (dL/dt_pre, guarded)."""
            n_batch = pre.shape[0]
            grad_w[:, :] = 0.0
            grad_arrival[:, :] = 0.0
            grad_pre = np.zeros(pre.shape)
            scale = np.empty(post.shape)
            active, dropped = np.empty(post.shape, dtype=np.bool_), np.empty(post.shape, dtype=np.bool_)
            kernels, slopes = np.empty((block,) + weights.shape), np.empty((block,) + weights.shape)
            for first in range(0, n_batch, block):
                size = min(block, n_batch - first)
                block_gradients(pre, post, weights, delays, delta, limit, connected, first, kernels[:size],
                                slopes[:size], scale, active, dropped, grad_w, grad_arrival, grad_pre)
            return grad_pre, dropped.sum()

        @numba.njit(error_model="numpy")
        def backward(times, weights, delays, delta, limit, connected, blocks, grad_w, grad_arrival):
            """Every layer, the last first (dL/dt of a layer's inputs is the delta of the one below); fills
            ``grad_w`` and ``grad_arrival``, returns (dL/dt of the inputs, guarded)."""
            guarded = 0
            for k in range(len(weights) - 1, -1, -1):
                delta, dropped = layer(times[k], times[k + 1], weights[k], delays[k], delta, limit, connected[k],
                                       blocks[k], grad_w[k], grad_arrival[k])
                guarded += dropped
            return delta, guarded

        return backward

    return driver(block_serial), driver(block_parallel)
