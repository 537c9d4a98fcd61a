"""Exact event-based forward pass: closed-form or root-found first spike times, vectorised."""
import numpy as np

from ..compiled import compiled_layer
from ..kernel import derive_kernel
from ..memory import JITTER_BYTES, NUMPY_BYTES, chunk_rows
from ..settings import Setting, check_settings
from ..threads import check_threads
from .base import Substrate
from .noise import forward_passes

__all__ = ["ExactSubstrate", "layer_spike_times"]


class ExactSubstrate(Substrate):
    """Exact, event-based simulation of a :class:`~brian2_delgrad.network.DelayNetwork`.

    Spike times are the first upward threshold crossings of the exact membrane
    potential, computed from the sorted arrival times of the inputs with the
    causal-set rule: for every prefix of the ``k`` earliest arrivals, the
    crossing of the membrane driven by those inputs counts if it lies in
    ``[t~_(k), t~_(k+1))``; the earliest such crossing is the spike.

    Parameters
    ----------
    closed_form : bool
        Use the closed-form crossing for ``tau_m/tau_s`` in {1, 2}; ``False``
        forces safeguarded root finding for every ratio.
    compiled : bool
        Use the numba-compiled layer kernel where available
        (:mod:`~brian2_delgrad.compiled`); ``False`` forces the vectorised
        NumPy pass (the reference).
    noise : Noise, optional
        Threshold pattern and trial noise, delay jitter and spike jitter
        (:class:`~brian2_delgrad.substrates.noise.Noise`). Membrane noise needs
        a simulator: asking for it here is an error.
    seed : int, optional
        Seed of the noise.
    pattern_seed : int, optional
        Seed of the threshold pattern alone (default ``seed``): pass a
        training run's seed to test the same "chip" with new trial noise.
    batch_size : int, optional
        Samples per forward pass: a larger input is run in passes of this
        size, each with its own draw of the batch-to-batch threshold noise
        (``Noise.threshold_batch``), as a chip runs a data set batch by batch.
        Default: the whole input is one pass.
    threads : int, optional
        Threads of the compiled kernel (the batch is split across them; the
        spike times are the same, bit for bit, for any count). Default: the
        process default, ``BRIAN2_DELGRAD_THREADS``, or every core
        (:mod:`~brian2_delgrad.threads`). A :class:`~brian2_delgrad.Trainer`
        runs its backward pass on as many.
    """

    #: Its own settings, declared once (``batch_size`` and the noise are every substrate's).
    SETTINGS = (Setting("closed_form", "boolean", doc="closed-form crossings for tau_m/tau_s in {1, 2}"),
                Setting("compiled", "boolean", doc="the numba-compiled layer kernel"))

    def __init__(self, closed_form=True, compiled=True, noise=None, seed=None, pattern_seed=None, batch_size=None,
                 threads=None):
        values = check_settings(self.SETTINGS, dict(closed_form=closed_form, compiled=compiled))
        self.closed_form, self.compiled = values["closed_form"], values["compiled"]
        self.threads = check_threads(threads)
        super().__init__(noise, seed, pattern_seed, batch_size)

    @classmethod
    def unsupported_noise(cls, **options):
        return {"membrane": "it solves the noise-free equations exactly; use Brian2Substrate for membrane noise"}

    def _run(self, net, times):
        passes = [self._run_pass(net, times[k:k + size]) for k, size in forward_passes(len(times), self.batch_size)]
        return [np.concatenate(layer) for layer in zip(*passes)]

    def _run_pass(self, net, times):
        """One forward pass: the noise of a pass is drawn once for it."""
        kernel = derive_kernel(net.model, closed_form=self.closed_form)
        compiled = compiled_layer(kernel) if self.compiled else None
        tau = net.model.tau_s_
        times = self._source.shift_spikes(times)
        thresholds = self._source.thresholds(net, len(times))
        # a missing synapse carries nothing, whatever its weight
        layer_weights = [np.where(mask, w, 0.0) for w, mask in zip(net.weights, net.connectivity)]
        layer_delays = [net.total_delays(layer) for layer in range(len(layer_weights))]
        if compiled is not None and not self.noise.spike_jitter and not self.noise.delay_jitter:
            # nothing random between the layers: all of them in one compiled call
            return [times] + compiled.forward(times / tau, layer_weights, [d / tau for d in layer_delays], thresholds,
                                              tau, threads=self.threads)
        result = [times]
        for weights, delays, theta in zip(layer_weights, layer_delays, thresholds):
            scaled, scaled_delays = result[-1] / tau, delays / tau
            out = np.empty((len(times), weights.shape[1]))
            # Samples in chunks where a pass holds numbers per (sample, synapse): the jitter, the NumPy pass.
            per_sample = (JITTER_BYTES if self.noise.delay_jitter else 0) + (0 if compiled is not None else NUMPY_BYTES)
            for rows in chunk_rows(len(times), per_sample * weights.size):
                jitter = self._source.jitter((rows.stop - rows.start,) + weights.shape)
                if jitter is not None:                 # no arrival before its presynaptic spike
                    jitter = (np.maximum(delays[None] + jitter, 0.0) - delays[None]) / tau
                if compiled is not None:
                    out[rows] = compiled.forward(scaled[rows], [weights], [scaled_delays], [theta[rows]], tau,
                                                 [jitter], self.threads)[0]
                else:
                    out[rows] = layer_spike_times(kernel, scaled[rows], weights, scaled_delays, theta[rows],
                                                  jitter) * tau
            result.append(self._source.shift_spikes(out))
        return result

    def __repr__(self):
        noise = "" if self.noise.is_ideal else f", noise={self.noise!r}"
        batch = "" if self.batch_size is None else f", batch_size={self.batch_size}"
        threads = "" if self.threads is None else f", threads={self.threads}"
        return f"ExactSubstrate(closed_form={self.closed_form}, compiled={self.compiled}{noise}{batch}{threads})"


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
