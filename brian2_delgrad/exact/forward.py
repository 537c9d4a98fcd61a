"""The exact event-based forward pass: first spike times of every layer, compiled or vectorised NumPy.

Pure numerics on arrays in seconds; the noise of a chip enters only through
the thresholds and the optional jitter callables (drawn by a substrate,
:class:`~brian2_delgrad.substrates.ExactSubstrate`).
"""
import numpy as np

from ..utils.memory import JITTER_BYTES, NUMPY_BYTES, chunk_rows
from .compiled import compiled_layer
from .kernel import derive_kernel

__all__ = ["forward", "layer_spike_times"]


def forward(net, times, thresholds=None, closed_form=True, compiled=True, threads=None, delay_jitter=None,
            spike_jitter=None):
    """Spike times of every layer of ``net`` for input spike times ``times``.

    Parameters
    ----------
    net : DelayNetwork
    times : ndarray, shape (batch, n_in)
        Input spike times in seconds, ``inf`` = no spike (checked by the caller).
    thresholds : list of ndarray, shape (batch, n) per non-input layer, optional
        Threshold of every neuron in every sample (default: the model's).
    closed_form : bool
        Closed-form crossings for ``tau_m/tau_s`` in {1, 2}; ``False``: root finding.
    compiled : bool
        The numba-compiled kernels; ``False``: the vectorised NumPy pass (the reference).
    threads : int, optional
        Threads of the compiled kernel (the numbers do not depend on it).
    delay_jitter : callable, optional
        ``delay_jitter(shape)`` -> jitter of the arrivals, seconds, shape
        ``(batch, n_pre, n_post)``, drawn per chunk of samples.
    spike_jitter : callable, optional
        ``spike_jitter(times)`` -> the spike times of a layer, jittered.

    Returns
    -------
    list of ndarray
        ``times`` first, then one ``(batch, n)`` array per layer, seconds; ``inf`` = no spike.
    """
    compiled = compiled_layer(net.model, closed_form) if compiled else None
    kernel = derive_kernel(net.model, closed_form=closed_form) if compiled is None else None
    tau = net.model.tau_s_
    if thresholds is None:
        thresholds = [np.full((len(times), n), net.model.theta) for n in net.sizes[1:]]
    # a missing synapse carries nothing, whatever its weight
    layer_weights = [np.where(mask, w, 0.0) for w, mask in zip(net.weights, net.connectivity)]
    layer_delays = [net.total_delays(layer) for layer in range(len(layer_weights))]
    if compiled is not None and spike_jitter is None and delay_jitter is None:
        # nothing random between the layers: all of them in one compiled call
        return [times] + compiled.forward(times / tau, layer_weights, [d / tau for d in layer_delays], thresholds,
                                          tau, threads=threads)
    result = [times]
    for weights, delays, theta in zip(layer_weights, layer_delays, thresholds):
        scaled, scaled_delays = result[-1] / tau, delays / tau
        out = np.empty((len(times), weights.shape[1]))
        # Samples in chunks where a pass holds numbers per (sample, synapse): the jitter, the NumPy pass.
        per_sample = (JITTER_BYTES if delay_jitter is not None else 0) + (0 if compiled is not None else NUMPY_BYTES)
        for rows in chunk_rows(len(times), per_sample * weights.size):
            jitter = None if delay_jitter is None else delay_jitter((rows.stop - rows.start,) + weights.shape)
            if jitter is not None:                     # no arrival before its presynaptic spike
                jitter = (np.maximum(delays[None] + jitter, 0.0) - delays[None]) / tau
            if compiled is not None:
                out[rows] = compiled.forward(scaled[rows], [weights], [scaled_delays], [theta[rows]], tau,
                                             [jitter], threads)[0]
            else:
                out[rows] = layer_spike_times(kernel, scaled[rows], weights, scaled_delays, theta[rows],
                                              jitter) * tau
        result.append(out if spike_jitter is None else spike_jitter(out))
    return result


def layer_spike_times(kernel, pre_times, weights, delays, theta=None, jitter=None):
    """First spike times of one layer, in units of ``tau_s``.

    Parameters
    ----------
    kernel : Kernel
    pre_times : ndarray, shape (batch, n_pre)
        Presynaptic spike times; ``inf`` = silent (contributes nothing).
    weights : ndarray, shape (n_pre, n_post)
    delays : ndarray, shape (n_pre, n_post)
        Total delay of every synapse, in units of ``tau_s``.
    theta : ndarray, shape (batch, n_post), optional
        Threshold of every neuron in every sample (default: the model's).
    jitter : ndarray, shape (batch, n_pre, n_post), optional
        Added to the arrival time of every spike (delay jitter), in units of ``tau_s``.

    Returns
    -------
    ndarray, shape (batch, n_post)
        ``inf`` where the neuron does not spike.
    """
    n_post = weights.shape[1]
    arrivals = pre_times[:, None, :] + delays.T[None]          # (batch, post, pre)
    if jitter is not None:
        arrivals = arrivals + jitter.transpose(0, 2, 1)
    theta = np.full((len(pre_times), n_post), kernel.theta) if theta is None else theta
    order = np.argsort(arrivals, axis=-1, kind="stable")         # delays change the order
    arrivals = np.take_along_axis(arrivals, order, axis=-1)
    sorted_weights = weights.T[np.arange(n_post)[:, None], order]
    finite = np.isfinite(arrivals)
    first = arrivals[..., :1]
    # Times from the first arrival keep the exponentials small; inputs arriving more than ~700 tau_s after
    # the first one of the same neuron would overflow them (far beyond any coding window used here).
    reference = np.where(np.isfinite(first), first, 0.0)
    start = np.where(finite, arrivals - reference, 0.0)
    end = np.concatenate([np.where(finite[..., 1:], start[..., 1:], np.inf),
                          np.full(start.shape[:-1] + (1,), np.inf)], axis=-1)
    statistics = [np.cumsum(np.where(finite, sorted_weights * g(start), 0.0), axis=-1)
                  for g in kernel.statistics]
    if kernel.crossing is not None:
        candidates = kernel.crossing(statistics, theta[..., None])
    else:
        candidates = _root_find(kernel, statistics, start, finite, np.broadcast_to(theta[..., None], start.shape))
    with np.errstate(invalid="ignore"):
        valid = finite & (candidates >= start) & (candidates < end) & (kernel.slope(candidates, statistics) > 0)
    index = valid.argmax(axis=-1)[..., None]
    times = np.take_along_axis(candidates, index, axis=-1)[..., 0] + reference[..., 0]
    return np.where(valid.any(axis=-1), times, np.inf)


def _root_find(kernel, statistics, start, finite, theta, max_iterations=200):
    """First upward crossing after each interval start, by safeguarded Newton iteration.

    The membrane of a fixed set of inputs has at most one extremum
    (``kernel.peak``), so it crosses threshold upwards after ``start`` exactly
    when it is below threshold and rising at ``start`` and reaches threshold at
    the peak; on ``[start, peak]`` it is increasing and the root is unique.
    Newton steps that leave the bracket are replaced by bisection. The bracket
    does not depend on ``end``, so the result of a prefix does not change when a
    later input moves; the caller checks ``crossing < end``. Returns NaN where
    there is no crossing. ``theta`` has the shape of ``start``.
    """
    peak = kernel.peak(statistics)
    with np.errstate(invalid="ignore"):
        has_root = (finite & (peak > start)
                    & (kernel.membrane(start, statistics) < theta)
                    & (kernel.slope(start, statistics) > 0))
    has_root[has_root] = kernel.membrane(peak[has_root], [s[has_root] for s in statistics]) >= theta[has_root]
    theta = theta[has_root]
    S = [s[has_root] for s in statistics]
    low, high = start[has_root], peak[has_root]
    x = 0.5 * (low + high)
    last_step = np.full(x.size, np.inf)
    active = np.arange(x.size)
    for _ in range(max_iterations):
        if active.size == 0:
            break
        xa, la, ha, Sa = x[active], low[active], high[active], [s[active] for s in S]
        excess = kernel.membrane(xa, Sa) - theta[active]
        la = np.where(excess < 0, xa, la)
        ha = np.where(excess >= 0, xa, ha)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xa - excess / kernel.slope(xa, Sa)
        new = np.where((newton >= la) & (newton <= ha), newton, 0.5 * (la + ha))
        step = np.abs(new - xa)
        x[active], low[active], high[active] = new, la, ha
        # Stop at a fixed point, or once near the root when rounding in V stops the steps from shrinking.
        near = step <= 1e-12 * np.maximum(1.0, np.abs(new))
        moving = (step > 0) & ~(near & (step >= last_step[active]))
        last_step[active] = step
        active = active[moving]
    result = np.full(start.shape, np.nan)
    result[has_root] = x
    return result
