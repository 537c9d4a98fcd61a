"""Numba-compiled layer kernels: the same SymPy-derived formulas, one loop per (sample, neuron).

The vectorised NumPy passes in :mod:`~brian2_delgrad.substrates.exact` and
:mod:`~brian2_delgrad.gradients` evaluate every prefix of every neuron's
sorted inputs; at the small batches of training (150 samples) their cost is
dominated by array-call overhead. Here the SymPy expressions of
:mod:`~brian2_delgrad.kernel` are lambdified to scalar ``math`` code and
compiled with numba, and a loop over (sample, neuron) stops at the first
valid crossing. Results agree with the NumPy passes to rounding (tested).
Used automatically when numba is installed and the kernel has two input
statistics (true for every ratio of the LIF model); the NumPy passes are
the reference and the fallback.
"""
import functools
import math

import numpy as np
import sympy as sp

try:
    import numba
except ImportError:                      # pragma: no cover - numba is a declared dependency
    numba = None

__all__ = ["compiled_layer", "CompiledLayer"]


class CompiledLayer:
    """Compiled forward and backward of one layer for a kernel (see :func:`compiled_layer`)."""

    def __init__(self, forward, backward):
        self._forward = forward
        self._backward = backward

    def forward(self, pre_times, weights, delays, theta, jitter=None):
        """Spike times (batch, n_post) in units of tau_s; as :func:`~.substrates.exact.layer_spike_times`.

        ``theta`` has shape (batch, n_post); ``jitter`` (batch, n_pre, n_post) or ``None``.
        """
        out = np.empty((pre_times.shape[0], weights.shape[1]))
        if theta.shape != out.shape or (jitter is not None and jitter.shape != out.shape[:1] + weights.shape):
            raise ValueError("theta must be (batch, n_post) and jitter (batch, n_pre, n_post)")
        jitter = np.zeros((0, 0, 0)) if jitter is None else np.ascontiguousarray(jitter)
        self._forward(np.ascontiguousarray(pre_times), np.ascontiguousarray(weights),
                      np.ascontiguousarray(delays), np.ascontiguousarray(theta, dtype=np.float64), jitter, out)
        return out

    def backward(self, pre_times, post_times, weights, delays, delta, limit, connected):
        """Gradients of one layer in units of tau_s.

        Returns ``(dL/dw, dL/dt~ summed over the batch, dL/dt_pre, guarded)``
        with shapes (n_pre, n_post), (n_pre, n_post), (batch, n_pre), int;
        ``limit`` is the grazing guard on ``|dL/dT dT/dw|`` per sample (``inf`` for none);
        ``connected`` (bool, (n_pre, n_post)) says which synapses exist (the others get no gradient).
        """
        grad_w = np.zeros(weights.shape)
        grad_arrival = np.zeros(weights.shape)
        grad_pre = np.zeros(pre_times.shape)
        guarded = self._backward(np.ascontiguousarray(pre_times), np.ascontiguousarray(post_times),
                                 np.ascontiguousarray(weights), np.ascontiguousarray(delays),
                                 np.ascontiguousarray(delta), limit, np.ascontiguousarray(connected), grad_w,
                                 grad_arrival, grad_pre)
        return grad_w, grad_arrival, grad_pre, guarded


def compiled_layer(kernel):
    """The compiled layer for ``kernel``, or ``None`` where only the NumPy passes apply."""
    if numba is None or len(kernel.statistics) != 2:
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
    forward = _make_forward(scalar(statistics[0], t), scalar(statistics[1], t), scalar(membrane, T, *symbols),
                            scalar(slope, T, *symbols), scalar(peak, *symbols), crossing_function)
    backward = _make_backward(scalar(psp, s), scalar(sp.diff(psp, s), s))
    return CompiledLayer(forward, backward)


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


if numba is not None:
    _lambert_w0 = numba.njit(error_model="numpy")(_lambert_w0_python)


def _make_forward(g0, g1, membrane, slope, peak, crossing):
    """Compile the forward loop with the kernel's functions bound in (inlined, no indirect calls)."""
    closed = crossing is not None

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

    @numba.njit(error_model="numpy")
    def forward(pre, weights, delays, thresholds, jitter, out):
        n_batch, n_pre = pre.shape
        jittered = jitter.shape[0] > 0
        n_post = weights.shape[1]
        arrivals = np.empty(n_pre)
        order = np.empty(n_pre, dtype=np.int64)
        for b in range(n_batch):
            for j in range(n_post):
                theta = thresholds[b, j]
                for i in range(n_pre):            # insertion sort: stable, as the NumPy pass
                    arrivals[i] = pre[b, i] + delays[i, j]
                    if jittered:
                        arrivals[i] += jitter[b, i, j]
                    k = i
                    while k > 0 and arrivals[order[k - 1]] > arrivals[i]:
                        order[k] = order[k - 1]
                        k -= 1
                    order[k] = i
                out[b, j] = math.inf
                reference = arrivals[order[0]]
                if not math.isfinite(reference):
                    continue
                S0 = 0.0
                S1 = 0.0
                for k in range(n_pre):
                    i = order[k]
                    if not math.isfinite(arrivals[i]):
                        break
                    start = arrivals[i] - reference
                    S0 += weights[i, j] * g0(start)
                    S1 += weights[i, j] * g1(start)
                    end = math.inf
                    if k + 1 < n_pre and math.isfinite(arrivals[order[k + 1]]):
                        end = arrivals[order[k + 1]] - reference
                    T = crossing(S0, S1, theta) if closed else root(start, S0, S1, theta)
                    if start <= T < end and slope(T, S0, S1) > 0:
                        out[b, j] = T + reference
                        break

    return forward


def _make_backward(psp, dpsp):
    """Compile the backward loop with the kernel's PSP and its derivative bound in."""

    @numba.njit(error_model="numpy")
    def backward(pre, post, weights, delays, delta, limit, connected, grad_w, grad_arrival, grad_pre):
        n_batch, n_pre = pre.shape
        n_post = weights.shape[1]
        kernel = np.empty(n_pre)
        weighted_slope = np.empty(n_pre)
        guarded = 0
        for b in range(n_batch):
            for j in range(n_post):
                error = delta[b, j]
                T = post[b, j]
                if error == 0.0 or not math.isfinite(T):
                    continue
                slope = 0.0
                for i in range(n_pre):
                    lag = T - pre[b, i] - delays[i, j]
                    if connected[i, j] and math.isfinite(lag) and lag > 0:
                        kernel[i] = psp(lag)
                        weighted_slope[i] = dpsp(lag) * weights[i, j]
                    else:
                        kernel[i] = 0.0
                        weighted_slope[i] = 0.0
                    slope += weighted_slope[i]
                if limit < math.inf:
                    grazing = not slope > 0          # V'(T) <= 0 or NaN: no gradient exists
                    for i in range(n_pre):
                        if not abs(kernel[i] / slope * error) <= limit:
                            grazing = True
                    if grazing:                      # drop this (sample, neuron) error
                        guarded += 1
                        continue
                scale = error / slope
                for i in range(n_pre):
                    grad_w[i, j] -= kernel[i] * scale
                    g = weighted_slope[i] * scale
                    grad_arrival[i, j] += g
                    grad_pre[b, i] += g
        return guarded

    return backward
