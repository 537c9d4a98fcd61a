"""Numba-compiled layer kernels: the same SymPy-derived formulas, one loop per (sample, neuron).

The vectorised NumPy passes in :mod:`~brian2_delgrad.substrates.exact` and
:mod:`~brian2_delgrad.exact.gradients` evaluate every prefix of every neuron's
sorted inputs; at the small batches of training (150 samples) their cost is
dominated by array-call overhead. Here the SymPy expressions of
:mod:`~brian2_delgrad.exact.kernel` are lambdified to scalar ``math`` code and
compiled with numba, and a loop over (sample, neuron) stops at the first
valid crossing. Results agree with the NumPy passes to rounding (tested).
Used automatically where the kernel has two input statistics (true for
every ratio of the LIF model); the NumPy passes are the reference and the
fallback.
"""
import functools
import math

import numba
import numpy as np
import sympy as sp

from ..utils.memory import BLOCK_BYTES, chunk_size
from ..utils.notices import announce_once
from ..utils.threads import kernel_threads

__all__ = ["compiled_layer", "CompiledLayer"]


class CompiledLayer:
    """Compiled forward and backward passes for a kernel (see :func:`compiled_layer`).

    Each takes one layer or several consecutive ones in one call. The forward pass is one parallel
    region (each thread takes its samples through every layer); the backward pass runs the layers one
    after the other, each in two parallel regions back to back. Both run on
    :func:`~brian2_delgrad.utils.threads.get_num_threads` ``(threads)`` threads and give the same numbers, bit
    for bit, for any thread count; on one thread they do not touch numba's threading layer (so a process
    that forks afterwards stays safe). Working memory: a few vectors of ``n_pre`` per thread, the
    transposed parameters and gradients, ``(n_pre, n_post)`` each, and in the backward pass the PSPs and
    weighted PSP slopes of a block of samples, 16 bytes per sample and synapse (at most
    :data:`~brian2_delgrad.utils.memory.BLOCK_BYTES`, or one sample's); nothing else of size ``batch x
    synapses`` but the delay jitter, when the noise has it. Arrays are taken as C-contiguous float64
    (copied where they are not); shapes that do not chain raise ``ValueError``.
    """

    def __init__(self, forward, backward):
        self._forward = forward                        # (one thread, several threads)
        self._backward = backward

    def forward(self, pre_times, weights, delays, thresholds, tau, jitters=None, threads=None):
        """Spike times in seconds of one or several consecutive layers, in one call (one parallel region).

        Parameters
        ----------
        pre_times : ndarray, shape (batch, n_pre)
            Spike times of the first layer's inputs in units of tau_s; ``inf`` = silent.
        weights, delays : list of ndarray
            Per layer, ``(n_pre, n_post)``: weights (0 for a missing synapse) and total delays (units of tau_s).
        thresholds : list of ndarray
            Per layer, ``(batch, n_post)``.
        tau : float
            tau_s in seconds: each layer's spike times are returned in seconds, and the next layer takes them
            back in units of tau_s as ``(T * tau) / tau``, as a pass layer by layer does.
        jitters : list of ndarray or None, optional
            Per layer, ``(batch, n_pre, n_post)`` arrival jitter in units of tau_s, or ``None``.

        Returns
        -------
        list of ndarray
            Per layer, ``(batch, n_post)`` spike times in seconds (``inf`` if none); as
            :func:`~.substrates.exact.layer_spike_times` times ``tau``.
        """
        pre_times = _c_array(pre_times)
        batch = pre_times.shape[0]
        jitters = [None] * len(weights) if jitters is None else jitters
        _check_layers("forward", pre_times.shape[1:], weights, dict(delays=delays),
                      dict(thresholds=thresholds, jitters=jitters))
        shapes = [(batch, w.shape[1]) for w in weights]
        for shape, w, theta, jitter in zip(shapes, weights, thresholds, jitters):
            if np.shape(theta) != shape or (jitter is not None and np.shape(jitter) != shape[:1] + np.shape(w)):
                raise ValueError(f"forward: thresholds must be (batch, n_post) = {shape} and jitters (batch, n_pre, "
                                 f"n_post) per layer, got {np.shape(theta)} and {np.shape(jitter)}")
        arguments = [tuple(_c_array(a) for a in arrays) for arrays in (
            [w.T for w in weights], [d.T for d in delays], thresholds,
            [np.zeros((0, 0, 0)) if j is None else j for j in jitters])]
        outs = [np.empty(shape) for shape in shapes]
        with kernel_threads(threads) as count:
            _announce_compilation(self._forward[count > 1])
            self._forward[count > 1](pre_times, *arguments, float(tau), tuple(outs),
                                     tuple(np.empty(shape) for shape in shapes))
        return outs

    def backward(self, times, weights, delays, delta, limit, connected, threads=None):
        """Gradients of every layer, from the last to the first, in one call; all times in units of tau_s.

        Parameters
        ----------
        times : list of ndarray
            Spike times of every layer, the input layer first, ``(batch, n)`` each.
        weights, delays : list of ndarray
            Per connection layer, ``(n_pre, n_post)``: weights and total delays.
        delta : ndarray, shape (batch, n_out)
            dL/dT of the output spike times.
        limit : float
            The grazing guard on ``|dL/dT dT/dw|`` per sample (``inf`` for none).
        connected : list of ndarray of bool
            Per connection layer, ``(n_pre, n_post)``: which synapses exist (the others get no gradient).

        Returns
        -------
        grad_w, grad_arrival : list of ndarray
            Per connection layer, ``(n_pre, n_post)``: dL/dw and dL/dt~ summed over the batch.
        grad_input : ndarray, shape (batch, n_in)
            dL/dt of the input spike times.
        guarded : int
            (sample, neuron) errors dropped by the guard.
        """
        times, delta = [_c_array(t) for t in times], _c_array(delta)
        _check_layers("backward", times[0].shape[1:], weights, dict(delays=delays, connected=connected), {})
        if len(times) != len(weights) + 1 or delta.shape != times[-1].shape or any(
                t.shape != (len(delta), w.shape[1]) for t, w in zip(times[1:], weights)):
            raise ValueError(f"backward: times must be one (batch, n) array per layer and delta (batch, n_out), got "
                             f"{[t.shape for t in times]} and {delta.shape}")
        blocks = tuple(chunk_size(len(delta), 16 * w.size, BLOCK_BYTES) for w in weights)
        grad_w = tuple(np.empty(w.T.shape) for w in weights)
        grad_arrival = tuple(np.empty(w.T.shape) for w in weights)
        with kernel_threads(threads) as count:
            _announce_compilation(self._backward[count > 1])
            grad_input, guarded = self._backward[count > 1](
                tuple(times), tuple(_c_array(w.T) for w in weights), tuple(_c_array(d.T) for d in delays), delta,
                float(limit), tuple(_c_array(c.T, np.bool_) for c in connected), blocks, grad_w, grad_arrival)
        return [g.T.copy() for g in grad_w], [g.T.copy() for g in grad_arrival], grad_input, guarded


def _announce_compilation(dispatcher):
    """Say that the process compiles the kernels (numba compiles at the first call), once per process."""
    if not dispatcher.signatures:
        announce_once("kernels", "compiling the exact simulator's kernels (10-20 s, once in every new process)")


def _c_array(array, dtype=np.float64):
    """``array`` as a writeable C-contiguous array of ``dtype`` (a copy only where it is not one): the kernels
    take tuples of arrays, which numba types only if every item has the same type."""
    return np.require(array, dtype, ("C", "W"))


def _check_layers(name, n_in, weights, like_weights, per_layer):
    """Raise ``ValueError`` (one line, naming ``name``) unless the ``(n_pre, n_post)`` weights chain from ``n_in``
    inputs, every list of ``like_weights`` (name -> list) holds arrays of the weights' shapes and every list of
    ``per_layer`` one item per layer."""
    shapes = [np.shape(w) for w in weights]
    chained = all(len(shape) == 2 for shape in shapes) and [shape[0] for shape in shapes] == \
        list(n_in) + [shape[1] for shape in shapes[:-1]]
    if not weights or not chained:
        raise ValueError(f"{name}: weights must be (n_pre, n_post) arrays that chain from {n_in[0] if n_in else '?'} "
                         f"inputs, got shapes {shapes}")
    for key, values in per_layer.items():
        if len(values) != len(weights):
            raise ValueError(f"{name}: {key} must have one item per layer ({len(weights)}), got {len(values)}")
    for key, values in like_weights.items():
        if [np.shape(v) for v in values] != shapes:
            raise ValueError(f"{name}: {key} must have the weights' shapes {shapes}, "
                             f"got {[np.shape(v) for v in values]}")


def compiled_layer(kernel):
    """The compiled layer for ``kernel``, or ``None`` where only the NumPy passes apply."""
    if len(kernel.statistics) != 2:
        return None
    e = kernel.expressions
    return _compile(e["psp"], e["statistics"], e["symbols"], e["membrane"], e["slope"], e["peak"],
                    e["crossing"], e["ratio"])


@functools.lru_cache(maxsize=16)
def _compile(psp, statistics, symbols, membrane, slope, peak, crossing, ratio):
    s, t, T = sp.Symbol("s", positive=True), sp.Symbol("t", real=True), sp.Symbol("T", real=True)
    theta = sp.Symbol("theta", positive=True)
    values = {sp.Symbol("r", positive=True): ratio}

    def scalar(expr, *args):
        source = sp.lambdify(args, expr.subs(values), modules=[{"LambertW": _lambert_w0}, "math"])
        return numba.njit(error_model="numpy", inline="always")(source)

    crossing_function = None if crossing is None else scalar(crossing, *symbols, theta)
    G = sp.symbols("G0:2", positive=True)
    forward = _make_forward(scalar(statistics[0], t), scalar(statistics[1], t), scalar(membrane, T, *symbols),
                            scalar(slope, T, *symbols), scalar(peak, *symbols), crossing_function,
                            scalar(_in_statistics(membrane, statistics, G, t, T), T, *symbols, *G),
                            scalar(_in_statistics(slope, statistics, G, t, T), T, *symbols, *G))
    return CompiledLayer(forward, _make_backward(scalar(psp, s), scalar(sp.diff(psp, s), s)))


def _in_statistics(expr, statistics, G, t, T):
    """``expr(T)`` with every ``exp(-k T)`` written ``1/G_j`` where ``g_j(t) = exp(k t)`` and ``G_j = g_j(T)``.

    The forward pass has ``g_j`` of the next arrival at hand (it needs them for the next causal set), so
    the membrane there costs divisions instead of exponentials. Unchanged where no statistic is a pure
    exponential.
    """
    for g, symbol in zip(statistics, G):
        if isinstance(g, sp.exp):
            expr = expr.subs(sp.exp(-g.args[0].subs(t, T)), 1 / symbol)
    return expr


def _lambert_w0_python(x):
    """Principal branch of Lambert W for real ``x >= -1/e`` (NaN below), by Halley iteration."""
    if not x >= -1.0 / math.e:
        return math.nan
    if x == 0.0:
        return 0.0
    if x < -0.25:                                  # near the branch point: series in sqrt(2 (e x + 1))
        p = math.sqrt(max(2.0 * (math.e * x + 1.0), 0.0))
        w = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
    elif x < 3.0:
        w = math.log1p(x) * 0.8
    else:
        lx = math.log(x)
        w = lx - math.log(lx)
    for _ in range(64):
        ew = math.exp(w)
        f = w * ew - x
        denominator = ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0)
        if denominator == 0.0:
            break
        step = f / denominator
        w -= step
        if abs(step) <= 4e-16 * (1.0 + abs(w)):
            break
    return w


_lambert_w0 = numba.njit(error_model="numpy")(_lambert_w0_python)


def _make_forward(g0, g1, membrane, slope, peak, crossing, membrane_at, slope_at):
    """Compile the forward loop with the kernel's functions bound in (inlined, no indirect calls).

    ``membrane_at(T, S0, S1, G0, G1)`` and ``slope_at`` are the membrane and its slope at ``T`` from
    ``G_j = g_j(T)`` (see :func:`_in_statistics`), used only to decide where no crossing can be.
    """
    closed = crossing is not None
    first_g0, first_g1 = g0(0.0), g1(0.0)              # the statistics of the first arrival (start 0): constants

    @numba.njit(error_model="numpy")
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

    @numba.njit(error_model="numpy", inline="always")
    def first_spike(arrivals, orders, g, n_finite, weights, j, theta):
        """First spike of neuron ``j`` from its arrivals sorted by ``orders[g]`` (units of tau_s; inf if none).

        Walks the causal sets in arrival order and stops at the first valid crossing. The crossing of
        a set is only computed where the membrane can reach threshold before the next arrival: the
        membrane of a fixed set has at most one extremum, so with ``V`` below threshold at both ends
        of the interval it cannot cross unless it rises at the start and falls at the end. Rows are
        indexed, not sliced: a slice is a new array, whose reference count costs atomic operations.
        """
        if n_finite == 0:
            return math.inf
        reference = arrivals[orders[g, 0]]
        # Below this, V is certainly under threshold: far beyond the rounding of V (about 1e-16 of the summed
        # weights) and of the closed forms and the root finder (~1e-12), so skipping changes no spike time.
        below = theta - 1e-6 * abs(theta)
        weight_sum = 0.0
        S0 = 0.0
        S1 = 0.0
        v_start = 0.0                                  # V at the first arrival: the PSP starts at 0
        start = 0.0
        G0 = first_g0
        G1 = first_g1
        for k in range(n_finite):
            weight = weights[j, orders[g, k]]
            S0 += weight * G0
            S1 += weight * G1
            weight_sum += abs(weight)
            end = math.inf
            v_end = math.nan
            if k + 1 < n_finite:
                end = arrivals[orders[g, k + 1]] - reference
                start_G0, start_G1 = G0, G1
                G0 = g0(end)                           # the next set's statistics, here to judge this one
                G1 = g1(end)
                v_end = membrane_at(end, S0, S1, G0, G1)
                low = below - 1e-9 * weight_sum
                if (v_start < low and v_end < low and G0 * G0 < math.inf and G1 * G1 < math.inf
                        and (slope_at(end, S0, S1, G0, G1) >= 0 or slope_at(start, S0, S1, start_G0, start_G1) <= 0)):
                    v_start = v_end
                    start = end
                    continue
            T = crossing(S0, S1, theta) if closed else root(start, S0, S1, theta)
            if start <= T < end and slope(T, S0, S1) > 0:
                return T + reference
            v_start = v_end
            start = end
        return math.inf

    @numba.njit(error_model="numpy")
    def forward_samples(pre, weights, delays, thresholds, jitter, out, first, last):
        """Spike times of the samples ``first`` to ``last - 1`` (one thread's share).

        Samples go in groups of :data:`GROUP`, neuron by neuron: a neuron's weights and delays stay in
        the cache while its group's samples use them, and each sample keeps its own arrival order for
        the next neuron.
        """
        n_pre = pre.shape[1]
        jittered = jitter.shape[0] > 0
        n_post = weights.shape[0]
        arrivals = np.empty(n_pre)
        order = np.empty(n_pre, dtype=np.int64)
        orders = np.empty((GROUP, n_pre), dtype=np.int64)
        n_finite = np.empty(GROUP, dtype=np.int64)
        counts = np.empty(n_pre + 1, dtype=np.int64)
        runs = np.empty((2, n_pre), dtype=np.int64)
        for group in range(first, last, GROUP):
            n_finite[:] = -1
            for j in range(n_post):
                for b in range(group, min(group + GROUP, last)):
                    g = b - group
                    for i in range(n_pre):
                        arrivals[i] = pre[b, i] + delays[j, i]
                        if jittered:
                            arrivals[i] += jitter[b, i, j]
                    if n_finite[g] < 0 or not _still_sorted(arrivals, orders, g, n_finite[g]):
                        n_finite[g] = _stable_sort(arrivals, order, counts, runs)
                        for i in range(n_pre):
                            orders[g, i] = order[i]
                    out[b, j] = first_spike(arrivals, orders, g, n_finite[g], weights, j, thresholds[b, j])

    @numba.njit(error_model="numpy")
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

    @numba.njit(error_model="numpy")
    def forward(inputs, weights, delays, thresholds, jitters, tau, outs, scaled):
        network_samples(inputs, weights, delays, thresholds, jitters, tau, outs, scaled, 0, inputs.shape[0])

    @numba.njit(error_model="numpy", parallel=True)
    def forward_parallel(inputs, weights, delays, thresholds, jitters, tau, outs, scaled):
        n_batch = inputs.shape[0]
        n_parts = min(n_batch, 4 * numba.get_num_threads())
        for part in numba.prange(n_parts):              # samples split across threads: no shared writes
            network_samples(inputs, weights, delays, thresholds, jitters, tau, outs, scaled,
                            part * n_batch // n_parts, (part + 1) * n_batch // n_parts)

    return forward, forward_parallel


#: Up to this many finite values the sort is one insertion sort, without buckets.
SMALL = 16
#: Samples the forward pass takes neuron by neuron together (each keeps an order of n_pre integers).
GROUP = 16

@numba.njit(error_model="numpy", inline="always")
def _still_sorted(values, orders, g, n_finite):
    """Whether ``orders[g]`` (an earlier neuron's) is the stable sort of ``values``, with ``n_finite`` finite ones.

    Without synaptic delays (or jitter) the arrival order is the same for every neuron of a layer,
    so one sort per sample serves them all; this check (linear) makes sure, tie order included.
    """
    n = values.size
    for k in range(n_finite):
        if not math.isfinite(values[orders[g, k]]):
            return False
    for k in range(n_finite, n):
        if math.isfinite(values[orders[g, k]]):
            return False
    for k in range(1, n_finite):
        a, b = values[orders[g, k - 1]], values[orders[g, k]]
        if a > b or (a == b and orders[g, k - 1] > orders[g, k]):
            return False
    return True

@numba.njit(error_model="numpy", _nrt=False)
def _stable_sort(values, order, counts, runs):
    """Stable argsort of ``values`` into ``order``, non-finite last; returns the number of finite values.

    Bucket sort (linear for spread-out values) with an insertion pass for the order within a
    bucket; if that pass has to move much (values bunched into few buckets) a bottom-up merge sort
    takes over. Scratch: ``counts`` of length ``values.size + 1``, ``runs`` of shape ``(2, values.size)``.
    Compiled without numba's reference counting (``_nrt=False``: it allocates nothing): numba
    otherwise counts references to the arrays passed in with atomic operations, which took a
    quarter of the time of a 4 -> 30 layer and are contended by the threads.
    """
    n = values.size
    low, high, n_finite = math.inf, -math.inf, 0
    for i in range(n):
        x = values[i]
        if math.isfinite(x):
            n_finite += 1
            low = min(low, x)
            high = max(high, x)
    if n_finite == 0:
        for i in range(n):
            order[i] = i
        return 0
    buckets = 1 if n_finite <= SMALL else n_finite  # a few inputs: one bucket, one insertion sort
    scale = buckets / (high - low) if high > low else 0.0
    if not scale < math.inf:                        # a subnormal spread: one bucket (no 0 * inf below)
        buckets, scale = 1, 0.0
    for k in range(buckets + 1):
        counts[k] = 0
    for i in range(n):
        if math.isfinite(values[i]):
            counts[min(int((values[i] - low) * scale), buckets - 1) + 1] += 1
    for k in range(buckets):
        counts[k + 1] += counts[k]
    tail = n_finite
    for i in range(n):                              # in index order: stable within a bucket
        if math.isfinite(values[i]):
            bucket = min(int((values[i] - low) * scale), buckets - 1)
            order[counts[bucket]] = i
            counts[bucket] += 1
        else:
            order[tail] = i
            tail += 1
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

@numba.njit(inline="always")
def _columns(first, last, width, row):
    """The columns of ``row`` among the cells ``first`` to ``last - 1`` of a table ``width`` wide, row by row."""
    return max(first - row * width, 0), min(last - row * width, width)


def _make_backward(psp, dpsp):
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
