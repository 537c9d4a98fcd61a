"""The compiled training epoch: every minibatch's step, missing-spike rule and Adam update in one call.

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
training step of :mod:`~brian2_delgrad.exact.step_kernel`, which each batch calls. After the step, a batch does
what :meth:`Trainer._train_epoch <brian2_delgrad.Trainer>` and
:class:`~brian2_delgrad.training.optim.NetworkOptimiser` do with NumPy (the reference), operation for operation
and in NumPy's order of summation (:func:`numpy_sum`), so that the numbers are the same bit for bit where
NumPy's and the C library's ``exp`` agree (they do on machines without AVX-512; tested): the epoch's tallies,
the missing-spike rule (a bump into the silent neurons, or else) the delays' gradients reduced to their
placements, the chain rule of the delay bounds, the non-finite guard, Adam, the projection and the parameters
realised for the next batch.

The parameters live in the optimiser's flat array (the weights of every layer, then the free parameters of every
layer and placement); ``plan`` says where: one row per placement, ``(layer, placement, offset, tied)`` with the
placement :data:`AXONAL`, :data:`DENDRITIC` or :data:`SYNAPTIC` and ``tied`` 1 where the layer's presynaptic
neurons are grouped (``groups``).
"""
import math

import numpy as np

from .jit import jit

__all__ = ["epoch_serial", "epoch_parallel", "wide_epoch_serial", "wide_epoch_parallel", "AXONAL", "DENDRITIC",
           "SYNAPTIC", "SIGMOID", "CLIP"]

#: Placement codes of a ``plan`` row (the order of :data:`~brian2_delgrad.core.delays.PLACEMENTS`).
AXONAL, DENDRITIC, SYNAPTIC = 0, 1, 2
#: Delay-bound codes (:class:`~brian2_delgrad.training.optim.SigmoidBounds`, ``ClipBounds``).
SIGMOID, CLIP = 0, 1
#: Rows of ``numbers``: Adam's constants, the bounds, the first bump and the missing-spike limits.
BETA1, BETA2, EPS, LOW, HIGH, BUMP, HIDDEN_SILENCE, OUTPUT_SILENCE, TAU, BOUNDS = range(10)
#: Rows of ``state``: Adam's steps so far and the current bump.
STEPS, BUMP_NOW = range(2)
#: Rows of ``totals``: summed loss, correct samples, skipped batches, guarded errors, zeroed gradient entries.
LOSS, CORRECT, SKIPPED, GUARDED, NONFINITE = range(5)
#: Consecutive bumps after which the missing-spike rule warns (as ``optim.STALLED_BUMPS``).
STALLED = 20


@jit()
def numpy_sum(values, first, count, stride):
    """The sum of ``values[first + k * stride]``, ``k < count``, added in NumPy's order for a contiguous axis, from 0:
    its pairwise summation, blocks of more than 128 values halved (the first half a multiple of 8 long), a block
    of 128 or fewer added by :func:`block_sum`. The halving is walked with a stack of its own (numba's disk cache
    crashes the process that loads a recursive function)."""
    if count <= 128:
        return 0.0 + block_sum(values, first, count, stride)
    firsts, counts = np.empty(64, np.int64), np.empty(64, np.int64)
    lefts, halves = np.empty(64), np.zeros(64, np.int64)     # a halved block's left sum, and its half's length
    depth, firsts[0], counts[0] = 0, first, count
    while True:
        if counts[depth] > 128 and halves[depth] == 0:       # a new block to halve: its left half first
            half = counts[depth] // 2
            halves[depth] = half - half % 8
            firsts[depth + 1], counts[depth + 1], halves[depth + 1] = firsts[depth], halves[depth], 0
            depth += 1
            continue
        value = block_sum(values, firsts[depth], counts[depth], stride)
        depth -= 1
        while depth >= 0:                                     # hand the sum up: a left half's, or a whole block's
            if halves[depth] > 0:
                lefts[depth], half = value, halves[depth]
                halves[depth] = -half                           # its right half next
                firsts[depth + 1] = firsts[depth] + half * stride
                counts[depth + 1], halves[depth + 1] = counts[depth] - half, 0
                depth += 1
                break
            value = lefts[depth] + value
            depth -= 1
        if depth < 0:
            return 0.0 + value


@jit(inline="always")
def block_sum(values, first, count, stride):
    """NumPy's sum of at most 128 values: in order below 8, else eight running sums added pairwise, then the rest."""
    if count < 8:
        total = 0.0
        for k in range(count):
            total += values[first + k * stride]
        return total
    r0, r1, r2, r3 = values[first], values[first + stride], values[first + 2 * stride], values[first + 3 * stride]
    r4, r5 = values[first + 4 * stride], values[first + 5 * stride]
    r6, r7 = values[first + 6 * stride], values[first + 7 * stride]
    k = 8
    while k < count - count % 8:
        at = first + k * stride
        r0 += values[at]
        r1 += values[at + stride]
        r2 += values[at + 2 * stride]
        r3 += values[at + 3 * stride]
        r4 += values[at + 4 * stride]
        r5 += values[at + 5 * stride]
        r6 += values[at + 6 * stride]
        r7 += values[at + 7 * stride]
        k += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < count:
        total += values[first + k * stride]
        k += 1
    return total


@jit(inline="always")
def batch_arrays(X, y, order, first, batch_size, full, last, tau):
    """The working arrays of the batch from ``first`` (``full``, or ``last`` for a smaller last batch) with its
    inputs (units of tau_s) and labels gathered in."""
    arrays = full if min(batch_size, order.shape[0] - first) == batch_size else last
    pre, labels = arrays[0][0], arrays[5]
    for r in range(labels.shape[0]):
        labels[r] = y[order[first + r]]
        for i in range(pre.shape[1]):
            pre[r, i] = X[order[first + r], i] / tau
    return arrays


@jit()
def batch_end(arrays, network, plan, groups, used, flat, grad, moments, rates, numbers, state, totals, silent,
              stalls, guarded):
    """A batch after its step: its tallies, then the missing-spike bump or the optimiser's step; ``stalls[k]``
    counts the times the bump into layer ``k + 1`` reached ``2**STALLED`` times the first one (the rule has
    stalled)."""
    outs, losses, correct = arrays[2], arrays[3], arrays[4]
    weights, connected, receiving = network[0], network[2], network[4]
    totals[LOSS] += numpy_sum(losses, 0, losses.shape[0], 1)
    count = 0
    for b in range(correct.shape[0]):
        count += correct[b]
    totals[CORRECT] += count
    missing = 0
    for k in range(len(outs)):
        out = outs[k]
        silent[k] += tally_silent(out, 0, out.shape[1]) / out.shape[1]
        limit = numbers[OUTPUT_SILENCE] if k == len(outs) - 1 else numbers[HIDDEN_SILENCE]
        quiet, size = tally_receiving(out, receiving[k])
        if missing == 0 and size > 0 and quiet / size > limit:
            missing = k + 1
    if missing:
        totals[SKIPPED] += 1
        bump_silent(outs[missing - 1], connected[missing - 1], flat, weight_offset(weights, missing - 1),
                    state[BUMP_NOW])
        realise(network, plan, groups, used, flat, numbers)
        state[BUMP_NOW] *= 2
        if state[BUMP_NOW] == numbers[BUMP] * 2.0 ** STALLED:
            stalls[missing - 1] += 1
        return
    totals[GUARDED] += guarded
    totals[NONFINITE] += optimiser_step(network, plan, groups, flat, grad, moments, rates, numbers, state)
    realise(network, plan, groups, used, flat, numbers)
    state[BUMP_NOW] = numbers[BUMP]


@jit(inline="always")
def tally_silent(out, first, last):
    """How many spike times of the columns ``first`` to ``last - 1`` of ``out`` are not finite."""
    count = 0
    for b in range(out.shape[0]):
        for j in range(first, last):
            count += not math.isfinite(out[b, j])
    return count


@jit(inline="always")
def tally_receiving(out, receiving):
    """How many spike times of the neurons that have inputs are not finite, and how many there are."""
    count, neurons = 0, 0
    for j in range(out.shape[1]):
        if receiving[j]:
            neurons += 1
            count += tally_silent(out, j, j + 1)
    return count, neurons * out.shape[0]


@jit(inline="always")
def weight_offset(weights, layer):
    """The offset of ``layer``'s weights in the flat array (they come first, layer after layer)."""
    offset = 0
    for k in range(layer):
        offset += weights[k].size
    return offset


@jit()
def bump_silent(out, connected, flat, offset, bump):
    """Add ``bump`` to the weights (in the flat array from ``offset``, ``(n_pre, n_post)``) of the existing
    synapses into the neurons that are silent in some sample of ``out`` (as ``NetworkOptimiser.bump_silent`` is
    given them)."""
    n_post, n_pre = connected.shape
    for j in range(n_post):
        if tally_silent(out, j, j + 1) > 0:
            for i in range(n_pre):
                flat[offset + i * n_post + j] += bump if connected[j, i] else 0.0


@jit()
def optimiser_step(network, plan, groups, flat, grad, moments, rates, numbers, state):
    """The gradient of every optimiser parameter from the step's sums, the chain rule of the bounds, the
    non-finite guard, Adam and the projection; returns how many gradient entries were not finite."""
    weights, grad_w, grad_arrival = network[0], network[5], network[6]
    offset = 0
    for k in range(len(weights)):
        g = grad_w[k]
        n_post, n_pre = g.shape
        for i in range(n_pre):
            for j in range(n_post):
                grad[offset + i * n_post + j] = g[j, i]
        offset += g.size
    tau = numbers[TAU]
    for row in range(plan.shape[0]):
        reduce_arrivals(grad_arrival[plan[row, 0]], groups[plan[row, 0]], plan[row, 1], plan[row, 3] == 1,
                        grad, plan[row, 2], tau)
    width = numbers[HIGH] - numbers[LOW]
    bounds = numbers[BOUNDS]
    for k in range(offset, flat.shape[0]):
        if bounds == SIGMOID:
            sigmoid = 1 / (1 + math.exp(-flat[k]))
            grad[k] = grad[k] * width * sigmoid * (1 - sigmoid)
        else:
            grad[k] = grad[k] * tau
    nonfinite = 0
    for k in range(grad.shape[0]):
        if not math.isfinite(grad[k]):
            nonfinite += 1
            grad[k] = 0.0
    state[STEPS] += 1
    beta1, beta2 = numbers[BETA1], numbers[BETA2]
    correction1 = 1 - math.pow(beta1, state[STEPS])
    correction2 = 1 - math.pow(beta2, state[STEPS])
    one_minus_beta1, one_minus_beta2 = 1 - beta1, 1 - beta2
    m, v = moments[0], moments[1]
    for k in range(flat.shape[0]):
        m[k] *= beta1
        m[k] += one_minus_beta1 * grad[k]
        v[k] *= beta2
        v[k] += one_minus_beta2 * grad[k] * grad[k]
        flat[k] -= rates[k] * (m[k] / correction1) / (math.sqrt(v[k] / correction2) + numbers[EPS])
    if bounds == CLIP:
        low, high = numbers[LOW] / tau, numbers[HIGH] / tau
        for k in range(offset, flat.shape[0]):
            flat[k] = min(max(flat[k], low), high)
    return nonfinite


@jit()
def reduce_arrivals(arrival, groups, placement, tied, grad, offset, tau):
    """dL/dd of one placement into ``grad`` from ``offset``: ``arrival`` (dL/dt~ per synapse, ``(n_post,
    n_pre)``) summed over the synapses each delay value delays, in the order of
    :func:`~brian2_delgrad.core.delays.reduce_arrival_gradient` (the tied presynaptic neurons of a group one after
    the other; then an axonal delay's sum over the postsynaptic neurons pairwise, a dendritic one's over the
    presynaptic neurons in order, or pairwise where there is one postsynaptic neuron), over tau_s."""
    n_post, n_pre = arrival.shape
    if placement == DENDRITIC and n_post == 1:                 # one column left: NumPy adds it pairwise
        grad[offset] = numpy_sum(arrival.reshape(arrival.size), 0, n_pre, 1) / tau
    elif placement == DENDRITIC:
        for j in range(n_post):
            total = 0.0
            for i in range(n_pre):
                total += arrival[j, i]
            grad[offset + j] = total / tau
    elif not tied:
        cells = arrival.reshape(arrival.size)
        for i in range(n_pre):
            if placement == AXONAL:
                grad[offset + i] = numpy_sum(cells, i, n_post, n_pre) / tau
            else:
                for j in range(n_post):
                    grad[offset + i * n_post + j] = arrival[j, i] / tau
    else:
        n_groups = 0
        for i in range(n_pre):
            n_groups = max(n_groups, groups[i] + 1)
        rows = np.zeros(n_groups * n_post)                   # each group's row: its neurons added in order
        for i in range(n_pre):
            for j in range(n_post):
                rows[groups[i] * n_post + j] += arrival[j, i]
        for g in range(n_groups):
            if placement == AXONAL:
                grad[offset + g] = numpy_sum(rows, g * n_post, n_post, 1) / tau
            else:
                for j in range(n_post):
                    grad[offset + g * n_post + j] = rows[g * n_post + j] / tau


@jit()
def realise(network, plan, groups, used, flat, numbers):
    """The step's weights (0 for a missing synapse) and total delays (units of tau_s), transposed, from the flat
    array: the delays of the bounds, 0 where a value delays no synapse, summed over the placements."""
    weights, delays, connected = network[0], network[1], network[2]
    offset = 0
    for k in range(len(weights)):
        w = weights[k]
        n_post, n_pre = w.shape
        for i in range(n_pre):
            for j in range(n_post):
                w[j, i] = flat[offset + i * n_post + j] if connected[k][j, i] else 0.0
                delays[k][j, i] = 0.0
        offset += w.size
    low, high, tau = numbers[LOW], numbers[HIGH], numbers[TAU]
    for row in range(plan.shape[0]):
        layer, placement, first, tied = plan[row, 0], plan[row, 1], plan[row, 2], plan[row, 3] == 1
        d, group = delays[layer], groups[layer]
        n_post, n_pre = d.shape
        for j in range(n_post):
            for i in range(n_pre):
                g = group[i] if tied else i
                at = first + (j if placement == DENDRITIC else g if placement == AXONAL else g * n_post + j)
                if not used[at - offset]:
                    value = 0.0
                elif numbers[BOUNDS] == SIGMOID:
                    value = low + (high - low) / (1 + math.exp(-flat[at]))
                else:
                    value = min(max(flat[at] * tau, low), high)
                d[j, i] += value
    for k in range(len(delays)):
        d = delays[k]
        for j in range(d.shape[0]):
            for i in range(d.shape[1]):
                d[j, i] = d[j, i] / tau


# The four entries differ only in the step they call (one thread or several, narrow or wide network): the
# one-thread entries never touch numba's threading layer, and a narrow network never compiles the wide kernels.

@jit()
def epoch_serial(X, y, order, batch_size, full, last, network, step, plan, groups, used, flat, grad, moments, rates,
                 numbers, state, totals, silent, stalls, begin, end):
    """Training batches on one thread: those of ``order`` (indices into ``X``, ``(n, n_in)`` seconds, and ``y``)
    from ``begin`` to ``end`` (multiples of ``batch_size``, or the end) through
    :func:`~brian2_delgrad.exact.step_kernel.step_serial` and :func:`batch_end`."""
    for first in range(begin, end, batch_size):
        arrays = batch_arrays(X, y, order, first, batch_size, full, last, numbers[TAU])
        guarded = step_serial(arrays[0], arrays[5], network[0], network[1], arrays[1], network[3], network[2],
                              numbers[TAU], step[0], step[1], step[2], arrays[6], arrays[2], arrays[3], arrays[4],
                              network[5], network[6])[1]
        batch_end(arrays, network, plan, groups, used, flat, grad, moments, rates, numbers, state, totals, silent,
                  stalls, guarded)


@jit()
def epoch_parallel(X, y, order, batch_size, full, last, network, step, plan, groups, used, flat, grad, moments,
                   rates, numbers, state, totals, silent, stalls, begin, end, threads):
    """:func:`epoch_serial` with :func:`~brian2_delgrad.exact.step_kernel.step_parallel` on ``threads``."""
    for first in range(begin, end, batch_size):
        arrays = batch_arrays(X, y, order, first, batch_size, full, last, numbers[TAU])
        guarded = step_parallel(arrays[0], arrays[5], network[0], network[1], arrays[1], network[3], network[2],
                                numbers[TAU], step[0], step[1], step[2], arrays[6], arrays[2], arrays[3], arrays[4],
                                network[5], network[6], threads)[1]
        batch_end(arrays, network, plan, groups, used, flat, grad, moments, rates, numbers, state, totals, silent,
                  stalls, guarded)


@jit()
def wide_epoch_serial(X, y, order, batch_size, full, last, network, step, plan, groups, used, flat, grad, moments,
                      rates, numbers, state, totals, silent, stalls, begin, end):
    """:func:`epoch_serial` of a wide network (:func:`~brian2_delgrad.exact.step_kernel.wide_step_serial`)."""
    for first in range(begin, end, batch_size):
        arrays = batch_arrays(X, y, order, first, batch_size, full, last, numbers[TAU])
        guarded = wide_step_serial(arrays[0], arrays[5], network[0], network[1], arrays[1], network[3], network[2],
                                   numbers[TAU], step[0], step[1], step[2], arrays[6], arrays[2], arrays[3],
                                   arrays[4], network[5], network[6])[1]
        batch_end(arrays, network, plan, groups, used, flat, grad, moments, rates, numbers, state, totals, silent,
                  stalls, guarded)


@jit()
def wide_epoch_parallel(X, y, order, batch_size, full, last, network, step, plan, groups, used, flat, grad, moments,
                        rates, numbers, state, totals, silent, stalls, begin, end, threads):
    """:func:`epoch_serial` of a wide network on ``threads``
    (:func:`~brian2_delgrad.exact.step_kernel.wide_step_parallel`)."""
    for first in range(begin, end, batch_size):
        arrays = batch_arrays(X, y, order, first, batch_size, full, last, numbers[TAU])
        guarded = wide_step_parallel(arrays[0], arrays[5], network[0], network[1], arrays[1], network[3],
                                     network[2], numbers[TAU], step[0], step[1], step[2], arrays[6], arrays[2],
                                     arrays[3], arrays[4], network[5], network[6], threads)[1]
        batch_end(arrays, network, plan, groups, used, flat, grad, moments, rates, numbers, state, totals, silent,
                  stalls, guarded)
