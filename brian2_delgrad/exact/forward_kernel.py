"""The compiled forward pass: the first spike time of every (sample, neuron), layer after layer.

Plain Python here, compiled into each kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`) after the
kernel's SymPy-derived functions, which the loops call by name: ``membrane(T, S0, S1)``, ``slope``,
``peak(S0, S1)``, ``crossing(S0, S1, theta)`` (the closed form, where ``CLOSED``), the statistics
``statistics_at(t)`` = ``(g0(t), g1(t))``, the same from ``E = exp(RATE t)``: ``statistics_from(t, E)``
(``RATE`` is 0 where the statistics share no exponential), their values ``FIRST_G0``, ``FIRST_G1`` at 0, and
``membrane_at(T, S0, S1, H0, H1)``, ``slope_at``: the membrane and its slope from ``H_j = 1 / g_j(T)``, used only to
decide where no crossing can be. The vectorised NumPy pass (:mod:`~brian2_delgrad.exact.forward`) is the
reference.
"""
import math

import numpy as np

from .backward_kernel import WIDE
from .jit import jit
from .sort import GROUP, sort_scratch, stable_sort, still_sorted

#: The largest exponent ``|RATE| t`` of the arrivals of a sample (earliest input 0) whose statistics the forward
#: pass computes from products of exponentials (far from overflow: ``exp(300)``, against the ``exp(709)`` a
#: direct evaluation of ``exp(RATE t)`` allows).
SPREAD = 300.0

#: Layers of at most this many inputs whose neurons order their arrivals each their own way (synaptic or dendritic
#: delays; without jitter) take them through :func:`narrow_samples`, all neurons of a sample together.
NARROW = 16

__all__ = ["NARROW", "network_samples"]


@jit()
def root(start, S0, S1, theta):
    """First upward crossing after ``start`` (NaN if none); as ``exact._root_find``."""
    top = peak(S0, S1)
    if not (top > start) or not (membrane(start, S0, S1) < theta) or not (slope(start, S0, S1) > 0):
        return math.nan
    if not (membrane(top, S0, S1) >= theta):
        return math.nan
    low, high = start, top
    x = 0.5 * (low + high)
    last = math.inf
    for _ in range(200):
        excess = membrane(x, S0, S1) - theta
        if excess < 0:
            low = x
        else:
            high = x
        newton = x - excess / slope(x, S0, S1)
        new = newton if low <= newton <= high else 0.5 * (low + high)
        step = abs(new - x)
        x = new
        if step == 0 or (step <= 1e-12 * max(1.0, abs(new)) and step >= last):
            break
        last = step
    return x


@jit(inline="always")
def first_spike(arrivals, scaled, direct, orders, g, n_finite, weights, j, theta):
    """First spike of neuron ``j`` from its arrivals sorted by ``orders[g]`` (units of tau_s; inf if none).

    Walks the causal sets in arrival order and stops at the first valid crossing. The crossing of
    a set is only computed where the membrane can reach threshold before the next arrival: the
    membrane of a fixed set has at most one extremum, so with ``V`` below threshold at both ends
    of the interval it cannot cross unless it rises at the start and falls at the end. Rows are
    indexed, not sliced: a slice is a new array, whose reference count costs atomic operations.
    ``scaled[i]`` is ``exp(RATE * arrivals[i])`` times a constant of the sample, so that the statistics of
    an arrival cost a division instead of an exponential (:func:`forward_samples`); with ``direct`` they
    are computed from the arrival times themselves.
    """
    if n_finite == 0:
        return math.inf
    reference = arrivals[orders[g, 0]]
    scale = 1.0 / scaled[orders[g, 0]]
    # Below this, V is certainly under threshold: far beyond the rounding of V (about 1e-16 of the summed
    # weights) and of the closed forms and the root finder (~1e-12), so skipping changes no spike time.
    below = theta - 1e-6 * abs(theta)
    weight_sum = 0.0
    S0 = 0.0
    S1 = 0.0
    v_start = 0.0                                  # V at the first arrival: the PSP starts at 0
    start = 0.0
    G0 = FIRST_G0
    G1 = FIRST_G1
    H0 = 1.0 / G0                                  # inf where a statistic is 0 at 0 (t exp(t)): never used then
    H1 = 1.0 / G1
    for k in range(n_finite):
        weight = weights[j, orders[g, k]]
        S0 += weight * G0
        S1 += weight * G1
        weight_sum += abs(weight)
        end = math.inf
        v_end = math.nan
        if k + 1 < n_finite:
            end = arrivals[orders[g, k + 1]] - reference
            start_H0, start_H1 = H0, H1
            if direct:                             # the next set's statistics, here to judge this one
                G0, G1 = statistics_at(end)
            else:
                G0, G1 = statistics_from(end, scaled[orders[g, k + 1]] * scale)
            H0, H1 = 1.0 / G0, 1.0 / G1
            v_end = membrane_at(end, S0, S1, H0, H1)
            low = below - 1e-9 * weight_sum
            if (v_start < low and v_end < low and G0 * G0 < math.inf and G1 * G1 < math.inf
                    and (slope_at(end, S0, S1, H0, H1) >= 0 or slope_at(start, S0, S1, start_H0, start_H1) <= 0)):
                v_start = v_end
                start = end
                continue
        T = crossing(S0, S1, theta) if CLOSED else root(start, S0, S1, theta)
        if start <= T < end and slope(T, S0, S1) > 0:
            return T + reference
        v_start = v_end
        start = end
    return math.inf


@jit()
def shared_order(delays):
    """Whether every neuron of a layer has the same delay from each input (weights only, axonal delays): then all
    of them see a sample's arrivals in one order, at the same times."""
    n_post, n_pre = delays.shape
    for j in range(1, n_post):
        for i in range(n_pre):
            if delays[j, i] != delays[0, i]:
                return False
    return True


@jit()
def shared_samples(pre, weights, delays, thresholds, out, first, last):
    """:func:`forward_samples` of a layer whose neurons see the same arrivals (:func:`shared_order`), without jitter.

    One sort and one set of statistics per sample serve every neuron; arrival by arrival, the running sums of all
    neurons grow by a row of weights (a loop the compiler vectorises), then each neuron that has not fired yet is
    judged as :func:`first_spike` judges it, with the same operations: the same spike times, bit for bit.
    """
    n_post, n_pre = weights.shape
    rows = np.empty((n_pre, n_post))                # the weights from one input, contiguous
    for j in range(n_post):
        for i in range(n_pre):
            rows[i, j] = weights[j, i]
    arrivals, scaled, G0, G1 = np.empty(n_pre), np.empty(n_pre), np.empty(n_pre), np.empty(n_pre)
    order, counts, runs = sort_scratch(n_pre)
    S0, S1, weight_sum, v_start, below = (np.empty(n_post), np.empty(n_post), np.empty(n_post), np.empty(n_post),
                                          np.empty(n_post))
    waiting, judge = np.empty(n_post, dtype=np.bool_), np.empty(n_post, dtype=np.bool_)
    longest = 0.0
    for i in range(n_pre):
        longest = max(longest, abs(delays[0, i]))
    for b in range(first, last):
        low, high = math.inf, -math.inf
        for i in range(n_pre):
            if math.isfinite(pre[b, i]):
                low = min(low, pre[b, i])
                high = max(high, pre[b, i])
        direct = not abs(RATE) * (high - low + longest) < SPREAD
        for i in range(n_pre):
            arrivals[i] = pre[b, i] + delays[0, i]
            scaled[i] = math.exp(RATE * (pre[b, i] - low)) * math.exp(RATE * delays[0, i]) if not direct else 1.0
        n_finite = stable_sort(arrivals, order, counts, runs)
        for j in range(n_post):
            out[b, j] = math.inf
            S0[j], S1[j], weight_sum[j], v_start[j] = 0.0, 0.0, 0.0, 0.0
            below[j] = thresholds[b, j] - 1e-6 * abs(thresholds[b, j])
            waiting[j] = True
        if n_finite == 0:
            continue
        reference = arrivals[order[0]]
        scale = 1.0 / scaled[order[0]]
        G0[0], G1[0] = FIRST_G0, FIRST_G1
        for k in range(1, n_finite):
            t = arrivals[order[k]] - reference
            G0[k], G1[k] = statistics_at(t) if direct else statistics_from(t, scaled[order[k]] * scale)
        remaining = n_post
        start = 0.0
        H0, H1 = 1.0 / G0[0], 1.0 / G1[0]
        for k in range(n_finite):
            i = order[k]
            for j in range(n_post):
                S0[j] += rows[i, j] * G0[k]
                S1[j] += rows[i, j] * G1[k]
                weight_sum[j] += abs(rows[i, j])
            end, next_H0, next_H1, closed_set = math.inf, math.nan, math.nan, k + 1 < n_finite
            if closed_set:
                end = arrivals[order[k + 1]] - reference
                next_H0, next_H1 = 1.0 / G0[k + 1], 1.0 / G1[k + 1]
                finite = G0[k + 1] * G0[k + 1] < math.inf and G1[k + 1] * G1[k + 1] < math.inf
            if closed_set:                          # every neuron judged at once, without branches (vectorised)
                for j in range(n_post):
                    v_end = membrane_at(end, S0[j], S1[j], next_H0, next_H1)
                    low = below[j] - 1e-9 * weight_sum[j]
                    below_both = (v_start[j] < low) & (v_end < low) & finite
                    no_peak = (slope_at(end, S0[j], S1[j], next_H0, next_H1) >= 0) | \
                        (slope_at(start, S0[j], S1[j], H0, H1) <= 0)
                    judge[j] = waiting[j] & ~(below_both & no_peak)
                    v_start[j] = v_end                 # the next set starts here (unless j fires now)
            else:
                for j in range(n_post):
                    judge[j] = waiting[j]
            for j in range(n_post):
                if not judge[j]:
                    continue
                T = crossing(S0[j], S1[j], thresholds[b, j]) if CLOSED else root(start, S0[j], S1[j], thresholds[b, j])
                if start <= T < end and slope(T, S0[j], S1[j]) > 0:
                    out[b, j] = T + reference
                    waiting[j] = False
                    remaining -= 1
            if remaining == 0:
                break
            start, H0, H1 = end, next_H0, next_H1


@jit()
def narrow_samples(pre, weights, delays, thresholds, out, first, last):
    """:func:`forward_samples` of a layer of at most :data:`NARROW` inputs whose neurons see them in orders of their
    own (synaptic or dendritic delays), without jitter: all neurons of a sample walk their arrivals together.

    Each neuron ranks its arrivals (the number of earlier ones, ties by input index: the order of
    ``stable_sort``, without a branch) and lays out, arrival by arrival, its time after its first arrival,
    its scaled exponential and its weight, neurons side by side; then arrival by arrival every neuron's sums,
    next statistics and membrane at the next arrival are computed in one loop over the neurons (vectorised by
    the compiler), and only the neurons that may cross threshold before their next arrival compute the
    crossing, as :func:`first_spike` decides it, with its operations: the same spike times, bit for bit. A
    sample's inputs that spiked are the same for all its neurons, so all of them have as many arrivals.
    """
    n_post, n_pre = weights.shape
    delay_rows, weight_rows, delay_scaled = np.empty((n_pre, n_post)), np.empty((n_pre, n_post)), \
        np.empty((n_pre, n_post))                   # input by input, the neurons side by side
    arrivals, scaled = np.empty((n_pre, n_post)), np.empty((n_pre, n_post))
    rank = np.empty((n_pre, n_post), dtype=np.int64)
    input_scaled = np.empty(n_pre)
    spiked = np.empty(n_pre, dtype=np.int64)
    sorted_arrivals, sorted_scaled = np.empty((n_pre, n_post)), np.empty((n_pre, n_post))
    times, factors, inputs = np.empty((n_pre, n_post)), np.empty((n_pre, n_post)), np.empty((n_pre, n_post))
    S0, S1, weight_sum, v_start, v_end = (np.empty(n_post), np.empty(n_post), np.empty(n_post), np.empty(n_post),
                                          np.empty(n_post))
    G0, G1, H0, H1, start_H0, start_H1 = (np.empty(n_post), np.empty(n_post), np.empty(n_post), np.empty(n_post),
                                          np.empty(n_post), np.empty(n_post))
    start, end, reference, scale, below = (np.empty(n_post), np.empty(n_post), np.empty(n_post), np.empty(n_post),
                                           np.empty(n_post))
    waiting, judge = np.empty(n_post, dtype=np.bool_), np.empty(n_post, dtype=np.bool_)
    longest = 0.0
    for j in range(n_post):
        for i in range(n_pre):
            delay_rows[i, j] = delays[j, i]
            weight_rows[i, j] = weights[j, i]
            delay_scaled[i, j] = math.exp(RATE * delays[j, i])
            longest = max(longest, abs(delays[j, i]))
    for b in range(first, last):
        low, high, m = math.inf, -math.inf, 0
        for i in range(n_pre):
            if math.isfinite(pre[b, i]):
                low = min(low, pre[b, i])
                high = max(high, pre[b, i])
                spiked[m] = i
                m += 1
        direct = not abs(RATE) * (high - low + longest) < SPREAD
        for i in range(n_pre):
            input_scaled[i] = math.exp(RATE * (pre[b, i] - low)) if not direct else 1.0
        for j in range(n_post):
            out[b, j] = math.inf
        if m == 0:
            continue
        for k in range(m):                          # the arrivals of the inputs that spiked
            i = spiked[k]
            for j in range(n_post):
                arrivals[k, j] = pre[b, i] + delay_rows[i, j]
                scaled[k, j] = input_scaled[i] * delay_scaled[i, j]
        for k in range(m):                          # stable ranks: earlier arrivals, ties by input index
            for j in range(n_post):
                rank[k, j] = 0
            for other in range(m):
                for j in range(n_post):
                    rank[k, j] += (arrivals[other, j] < arrivals[k, j]) | \
                        ((arrivals[other, j] == arrivals[k, j]) & (other < k))
        for k in range(m):
            i = spiked[k]
            for j in range(n_post):
                sorted_arrivals[rank[k, j], j] = arrivals[k, j]
                sorted_scaled[rank[k, j], j] = scaled[k, j]
                inputs[rank[k, j], j] = weight_rows[i, j]
        for j in range(n_post):
            reference[j] = sorted_arrivals[0, j]
            scale[j] = 1.0 / sorted_scaled[0, j]
            below[j] = thresholds[b, j] - 1e-6 * abs(thresholds[b, j])
        for k in range(m):
            for j in range(n_post):
                times[k, j] = sorted_arrivals[k, j] - reference[j]
                factors[k, j] = sorted_scaled[k, j] * scale[j]
        for j in range(n_post):
            S0[j], S1[j], weight_sum[j], v_start[j], start[j] = 0.0, 0.0, 0.0, 0.0, 0.0
            G0[j], G1[j] = FIRST_G0, FIRST_G1
            H0[j], H1[j] = 1.0 / G0[j], 1.0 / G1[j]
            waiting[j] = True
        remaining = n_post
        for k in range(m):
            for j in range(n_post):
                S0[j] += inputs[k, j] * G0[j]
                S1[j] += inputs[k, j] * G1[j]
                weight_sum[j] += abs(inputs[k, j])
            if k + 1 < m:                           # every neuron judged at once, without branches (vectorised)
                for j in range(n_post):
                    end[j] = times[k + 1, j]
                    start_H0[j], start_H1[j] = H0[j], H1[j]
                if direct:
                    for j in range(n_post):
                        G0[j], G1[j] = statistics_at(end[j])
                else:
                    for j in range(n_post):
                        G0[j], G1[j] = statistics_from(end[j], factors[k + 1, j])
                for j in range(n_post):
                    H0[j], H1[j] = 1.0 / G0[j], 1.0 / G1[j]
                    v_end[j] = membrane_at(end[j], S0[j], S1[j], H0[j], H1[j])
                    low = below[j] - 1e-9 * weight_sum[j]
                    below_both = (v_start[j] < low) & (v_end[j] < low) & (G0[j] * G0[j] < math.inf) & \
                        (G1[j] * G1[j] < math.inf)
                    no_peak = (slope_at(end[j], S0[j], S1[j], H0[j], H1[j]) >= 0) | \
                        (slope_at(start[j], S0[j], S1[j], start_H0[j], start_H1[j]) <= 0)
                    judge[j] = waiting[j] & ~(below_both & no_peak)
            else:
                for j in range(n_post):
                    end[j], v_end[j], judge[j] = math.inf, math.nan, waiting[j]
            for j in range(n_post):
                if not judge[j]:
                    continue
                T = crossing(S0[j], S1[j], thresholds[b, j]) if CLOSED else \
                    root(start[j], S0[j], S1[j], thresholds[b, j])
                if start[j] <= T < end[j] and slope(T, S0[j], S1[j]) > 0:
                    out[b, j] = T + reference[j]
                    waiting[j] = False
                    remaining -= 1
            if remaining == 0:
                break
            for j in range(n_post):
                v_start[j] = v_end[j]
                start[j] = end[j]


@jit()
def forward_samples(pre, weights, delays, thresholds, jitter, out, first, last):
    """Spike times of the samples ``first`` to ``last - 1`` (one thread's share).

    Samples go in groups of :data:`GROUP`, neuron by neuron: a neuron's weights and delays stay in
    the cache while its group's samples use them, and each sample keeps its own arrival order for
    the next neuron. ``exp(RATE t)`` of an arrival at ``t = t_i + d_ij`` is the product of one per input
    and sample and one per synapse, each computed once (exponents within :data:`SPREAD` of 0: else, and
    with jitter, the statistics come from the arrival times directly).
    """
    n_pre = pre.shape[1]
    jittered = jitter.shape[0] > 0
    if not jittered and shared_order(delays):
        shared_samples(pre, weights, delays, thresholds, out, first, last)
        return
    if not jittered and n_pre <= NARROW:
        narrow_samples(pre, weights, delays, thresholds, out, first, last)
        return
    n_post = weights.shape[0]
    arrivals = np.empty(n_pre)
    scaled = np.empty(n_pre)
    order, counts, runs = sort_scratch(n_pre)
    orders = np.empty((GROUP, n_pre), dtype=np.int64)
    n_finite = np.empty(GROUP, dtype=np.int64)
    input_scaled = np.empty((GROUP, n_pre))
    direct = np.empty(GROUP, dtype=np.bool_)
    # a wide layer's sort takes only the inputs that spiked (half of an image's pixels are black), the silent
    # ones after them in index order: the order stable_sort gives, at half the cost
    spiked, n_spiked = np.empty((GROUP, n_pre), dtype=np.int64), np.empty(GROUP, dtype=np.int64)
    silent = np.empty((GROUP, n_pre), dtype=np.int64)
    compact, compact_order = np.empty(n_pre), np.empty(n_pre, dtype=np.int64)
    delay_scaled = np.empty(weights.shape)
    longest = 0.0
    for j in range(n_post):
        for i in range(n_pre):
            delay_scaled[j, i] = math.exp(RATE * delays[j, i])
            longest = max(longest, abs(delays[j, i]))
    for group in range(first, last, GROUP):
        n_finite[:] = -1
        for b in range(group, min(group + GROUP, last)):
            g = b - group
            low, high = math.inf, -math.inf
            for i in range(n_pre):
                if math.isfinite(pre[b, i]):
                    low = min(low, pre[b, i])
                    high = max(high, pre[b, i])
            direct[g] = jittered or not abs(RATE) * (high - low + longest) < SPREAD
            for i in range(n_pre):
                input_scaled[g, i] = math.exp(RATE * (pre[b, i] - low)) if not direct[g] else 1.0
            count = 0
            for i in range(n_pre):
                if math.isfinite(pre[b, i]):
                    spiked[g, count] = i
                    count += 1
                else:
                    silent[g, i - count] = i
            n_spiked[g] = count
        for j in range(n_post):
            for b in range(group, min(group + GROUP, last)):
                g = b - group
                for i in range(n_pre):                  # no branch inside: a loop the compiler vectorises
                    arrivals[i] = pre[b, i] + delays[j, i]
                    scaled[i] = input_scaled[g, i] * delay_scaled[j, i]
                if jittered:
                    for i in range(n_pre):
                        arrivals[i] += jitter[b, i, j]
                if n_finite[g] < 0 or not still_sorted(arrivals, orders, g, n_finite[g]):
                    m = n_spiked[g]
                    if n_pre >= WIDE and m < n_pre:
                        for k in range(m):
                            compact[k] = arrivals[spiked[g, k]]
                        n_finite[g] = stable_sort(compact[:m], compact_order, counts, runs)
                        for k in range(m):
                            orders[g, k] = spiked[g, compact_order[k]]
                        for k in range(n_pre - m):
                            orders[g, m + k] = silent[g, k]
                    else:
                        n_finite[g] = stable_sort(arrivals, order, counts, runs)
                        for i in range(n_pre):
                            orders[g, i] = order[i]
                out[b, j] = first_spike(arrivals, scaled, direct[g], orders, g, n_finite[g], weights, j,
                                        thresholds[b, j])


@jit()
def network_samples(inputs, weights, delays, thresholds, jitters, tau, outs, scaled, first, last):
    """Every layer's spike times of the samples ``first`` to ``last - 1``, layer after layer (one thread's share).

    ``outs[k]`` receives layer ``k``'s in seconds, ``scaled[k]`` the same back in units of tau_s (the next
    layer's inputs): a sample's next layer needs only its own spike times, so no thread waits for another.
    """
    for k in range(len(weights)):
        pre = inputs if k == 0 else scaled[k - 1]
        out = outs[k]
        forward_samples(pre, weights[k], delays[k], thresholds[k], jitters[k], out, first, last)
        for b in range(first, last):
            for j in range(out.shape[1]):
                out[b, j] *= tau
                scaled[k][b, j] = out[b, j] / tau
