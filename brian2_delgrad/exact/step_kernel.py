"""The compiled training step: forward pass, built-in loss and backward pass of a batch in one call.

Also the compiled forward pass: a step without loss or backward pass (:data:`NO_LOSS`, ``block`` 0).

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
forward and backward loops it calls. A sample needs nothing of the other samples from its inputs to its
errors at every layer, so on several threads each thread takes its samples through the forward pass, the loss
and the backward pass in one parallel region, and a second region adds up the gradients of the synapses
(split by synapses, summed over the samples in order). On one thread each sample's terms are added as soon as
they are known. The losses are those of :mod:`~brian2_delgrad.training.losses`, computed operation for operation
as there (the NumPy versions are the reference): :data:`SHIFT_MSE` with parameters ``(margin, silent_loss)``,
:data:`CROSS_ENTROPY` with ``(xi, alpha, beta, silent_loss)``, times in units of tau_s.
"""
import math

import numba

from .jit import jit

__all__ = ["NO_LOSS", "SHIFT_MSE", "CROSS_ENTROPY", "step_serial", "step_parallel", "wide_step_serial", "wide_step_parallel"]

#: Code of a pass without loss (a forward pass).
NO_LOSS = -1
#: Code of the shift-invariant mean squared error (:class:`~brian2_delgrad.training.losses.ShiftInvariantMSE`).
SHIFT_MSE = 0
#: Code of the time-to-first-spike cross-entropy (:class:`~brian2_delgrad.training.losses.TTFSCrossEntropy`).
CROSS_ENTROPY = 1


@jit(inline="always")
def sample_loss(t, b, label, kind, parameters, tau, delta):
    """Loss of sample ``b`` from its output spike times ``t[b]`` (units of tau_s); ``delta[b]`` receives dL/dT in
    units of tau_s, as the NumPy loss's dL/dT in 1/second times tau_s. Returns (loss, whether the earliest output
    spike, the lowest index of equals, is the label's)."""
    n = t.shape[1]
    winner, earliest = -1, math.inf
    for k in range(n):
        if t[b, k] < earliest:
            winner, earliest = k, t[b, k]
    label_time = t[b, label]
    silent = not math.isfinite(label_time)
    if kind == SHIFT_MSE:
        margin, silent_loss = parameters[0], parameters[1]
        total, squares = 0.0, 0.0
        for k in range(n):
            error = 0.0
            if not silent and math.isfinite(t[b, k]):
                error = t[b, k] - (label_time + (0.0 if k == label else margin))
            delta[b, k] = error
            total = error if k == 0 else total + error
            squares = error * error if k == 0 else squares + error * error
        delta[b, label] -= total
        loss = silent_loss if silent else 0.5 * squares
    else:
        xi, alpha, beta, silent_loss = parameters[0], parameters[1], parameters[2], parameters[3]
        safe = 0.0 if silent else label_time
        top = -math.inf
        for k in range(n):
            scaled = -(t[b, k] - safe) / xi
            if math.isfinite(scaled) and scaled > top:
                top = scaled
        top = top if math.isfinite(top) else 0.0
        total = 0.0
        for k in range(n):
            delta[b, k] = math.exp(-(t[b, k] - safe) / xi - top)
            total = delta[b, k] if k == 0 else total + delta[b, k]
        regulariser = alpha * math.exp(safe / beta)
        for k in range(n):
            delta[b, k] = 0.0 if silent else -(delta[b, k] / total) / xi
        if not silent:
            delta[b, label] += 1 / xi + regulariser / beta
        loss = silent_loss if silent else top + math.log(total) + regulariser
    for k in range(n):
        delta[b, k] = delta[b, k] / tau * tau
    return loss, winner == label


@jit()
def step_samples(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit, outs,
                 losses, correct, deltas, buffers, grad_w, grad_arrival, first, last, block_first, backward, add):
    """Samples ``first`` to ``last - 1`` (of the block at ``block_first``) through the forward pass, the loss (unless
    :data:`NO_LOSS`) and, with ``backward``, the backward pass
    (:func:`~brian2_delgrad.exact.backward_kernel.sample_terms`; ``add``: on one thread, the terms straight into
    the sums)."""
    network_samples(times[0], weights, delays, thresholds, jitters, tau, outs, times[1:], first, last)
    if kind == NO_LOSS:
        return
    out, delta = times[len(times) - 1], deltas[len(deltas) - 1]
    for b in range(first, last):
        losses[b], correct[b] = sample_loss(out, b, labels[b], kind, parameters, tau, delta)
    if backward:
        sample_terms(times, weights, delays, deltas, limit, connected, first, last, block_first, buffers, grad_w,
                     grad_arrival, add)


@jit()
def step_serial(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit, block,
                outs, losses, correct, grad_w, grad_arrival):
    """One training step of a narrow network on one thread: spike times into ``outs`` (seconds) and ``times[1:]``
    (units of tau_s), each sample's loss and correctness and, unless ``block`` is 0 (a forward pass, also of a wide
    network), dL/dw and dL/dt~ into ``grad_w`` and ``grad_arrival`` (parameters transposed). Returns (dL/dt of the
    inputs, the (sample, neuron) errors dropped by the grazing guard)."""
    buffers, deltas = step_buffers(times, weights, kind, min(block, 1), grad_w, grad_arrival)
    step_samples(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit, outs,
                 losses, correct, deltas, buffers, grad_w, grad_arrival, 0, labels.shape[0], 0, block > 0, True)
    return deltas[0], guarded_pairs(buffers)


@jit(parallel=True)
def step_block_parallel(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit,
                        outs, losses, correct, deltas, buffers, grad_w, grad_arrival, first, size, backward, n_parts):
    for part in numba.prange(n_parts):              # the block's samples split across threads
        step_samples(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit,
                     outs, losses, correct, deltas, buffers, grad_w, grad_arrival, first + part * size // n_parts,
                     first + (part + 1) * size // n_parts, first, backward, False)


@jit()
def step_parallel(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit, block,
                  outs, losses, correct, grad_w, grad_arrival, threads):
    """:func:`step_serial` on ``threads`` threads, ``block`` samples at a time: two parallel regions per block,
    ``4 * threads`` parts each (one region for the whole batch without backward pass)."""
    buffers, deltas = step_buffers(times, weights, kind, block, grad_w, grad_arrival)
    batch = labels.shape[0]
    step = block if block > 0 else batch
    for first in range(0, batch, step):
        size = min(step, batch - first)
        step_block_parallel(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters,
                            limit, outs, losses, correct, deltas, buffers, grad_w, grad_arrival, first, size,
                            block > 0, min(size, 4 * threads))
        if block > 0:
            sums_parallel(first, size, buffers, grad_w, grad_arrival, 4 * threads)
    return deltas[0], guarded_pairs(buffers)


@jit()
def step_buffers(times, weights, kind, block, grad_w, grad_arrival):
    """:func:`~brian2_delgrad.exact.backward_kernel.layer_buffers` of a step (none per sample without a loss);
    ``grad_w`` and ``grad_arrival`` zeroed."""
    buffers, deltas = layer_buffers(times, weights, block, 0 if kind == NO_LOSS else times[0].shape[0])
    for k in range(len(grad_w)):
        grad_w[k][:, :] = 0.0
        grad_arrival[k][:, :] = 0.0
    return buffers, deltas


@jit()
def wide_step_serial(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit,
                     block, outs, losses, correct, grad_w, grad_arrival):
    """:func:`step_serial` of a wide network: the forward pass and the losses, then
    :func:`~brian2_delgrad.exact.backward_kernel.wide_layers_serial`."""
    buffers, deltas = step_buffers(times, weights, kind, 0, grad_w, grad_arrival)
    step_samples(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit, outs,
                 losses, correct, deltas, buffers, grad_w, grad_arrival, 0, labels.shape[0], 0, False, True)
    return deltas[0], wide_layers_serial(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival)


@jit()
def wide_step_parallel(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit,
                       block, outs, losses, correct, grad_w, grad_arrival, threads):
    """:func:`wide_step_serial` on ``threads`` threads: the forward pass and the losses in one parallel region, then
    :func:`~brian2_delgrad.exact.backward_kernel.wide_layers_parallel`."""
    buffers, deltas = step_buffers(times, weights, kind, 0, grad_w, grad_arrival)
    batch = labels.shape[0]
    step_block_parallel(times, labels, weights, delays, thresholds, jitters, connected, tau, kind, parameters, limit,
                        outs, losses, correct, deltas, buffers, grad_w, grad_arrival, 0, batch, False,
                        min(batch, 4 * threads))
    return deltas[0], wide_layers_parallel(times, weights, delays, deltas, limit, connected, grad_w, grad_arrival,
                                           threads)
