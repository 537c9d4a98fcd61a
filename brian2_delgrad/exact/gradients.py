"""Exact backward pass from spike times only (implicit function theorem).

At a neuron's spike ``V(T) = theta`` with ``V(T) = sum_i w_i K(T - t~_i)`` over
the inputs that arrived before ``T`` (the causal set), so for any parameter
``p``: ``dT/dp = -(dV/dp) / V'(T)``. Hence::

    dT/dw_i  = -K(T - t~_i) / V'(T)
    dT/dt~_i =  w_i K'(T - t~_i) / V'(T)        (and sum_i dT/dt~_i = 1)

with ``V'(T) = sum_i w_i K'(T - t~_i)``. Delays only shift arrival times
(``t~_ij = t_i + d_ij``), so their gradients are sums of ``dL/dt~_ij`` over the
synapses that share the delay (see :mod:`brian2_delgrad.core.delays`). Nothing but
spike times, weights and delays enters: no membrane potential is needed, so
spike times recorded from any substrate (exact, Brian2, hardware) can be used.
"""
from dataclasses import dataclass

import numpy as np
from brian2 import Quantity, second
from brian2.units.fundamentalunits import get_dimensions

from ..core.delays import reduce_arrival_gradient
from ..core.network import check_network
from ..utils.checks import float_array, times_in_seconds
from ..utils.settings import Setting
from ..utils.threads import check_threads
from .compiled import compiled_layer
from .kernel import derive_kernel

__all__ = ["Gradients", "backward", "network_gradients", "spike_time_derivatives", "membrane_slopes", "MAX_WEIGHT_GRADIENT"]

#: The per-sample grazing guard, declared once for :func:`backward`, the Trainer and model files.
MAX_WEIGHT_GRADIENT = Setting("max_weight_gradient", "number", low=0, low_open=True, optional=True,
                              doc="largest per-sample weight gradient before a sample-neuron error is dropped",
                              default=None)


@dataclass
class Gradients:
    """Gradients of the loss summed over the batch, as :func:`backward` returns them.

    Parameters
    ----------
    weights : list of ndarray
        ``dL/dw``, one ``(n_pre, n_post)`` array per connection layer (1/unit weight).
    delays : list of dict
        ``dL/dd`` in 1/second, placement name -> array of the delay's shape.
    input_times : ndarray of float64, shape (batch, n_in)
        ``dL/dt`` of every input spike time, in 1/second (per sample).
    guarded : int
        (sample, neuron) pairs whose error was dropped by the grazing guard.
    """

    weights: list
    delays: list
    input_times: np.ndarray
    guarded: int = 0


def backward(net, spike_times, dL_dT_out, max_weight_gradient=None, compiled=True, threads=None):
    """Exact gradients of the loss with respect to weights, delays and input spike times.

    Parameters
    ----------
    net : DelayNetwork
        The network whose parameters produced ``spike_times``.
    spike_times : list of array_like
        As returned by a substrate's ``run``: one ``(batch, n)`` array of spike
        times per layer, the input layer first, in seconds (or Brian2
        quantities); ``inf`` = no spike.
    dL_dT_out : array_like or Quantity, shape (batch, n_out)
        ``dL/dT`` of the output spike times in 1/second (a dimensionless
        loss); must be 0 for silent output neurons.
    max_weight_gradient : float, optional
        Per-sample guard against grazing crossings: where the weight gradient
        of one sample into one neuron, ``|dL/dT_j * dT_j/dw_ij|`` with times in
        units of ``tau_s``, exceeds this for some input ``i``, that neuron's
        error in that sample is dropped (no weight or delay gradient from it,
        nothing sent further back). The published recipe uses 0.2.
    compiled : bool
        Use the numba-compiled layer kernels where available
        (:mod:`~brian2_delgrad.exact.compiled`); ``False`` forces the vectorised
        NumPy pass (the reference).
    threads : int, optional
        Threads of the compiled kernels (the (sample, neuron) pairs, then the
        synapses, are split across them; the gradients are the same, bit for
        bit, for any count). Default: the process default,
        ``BRIAN2_DELGRAD_THREADS``, or every core (:mod:`~brian2_delgrad.utils.threads`).

    Returns
    -------
    Gradients
        Gradients of the summed loss with respect to the actual weights and the
        actual delays (seconds), and per-sample input-time gradients.

    Notes
    -----
    Where a recorded spike has ``V'(T) <= 0`` (possible with spikes recorded
    from a noisy or time-discretised substrate) the gradient is not defined
    and comes out non-finite or huge; the optimiser's guards deal with it.
    """
    check_network(net)
    times = _check_spike_times(net, spike_times)
    batch = times[0].shape[0]
    if isinstance(dL_dT_out, Quantity) and not get_dimensions(dL_dT_out).is_dimensionless:
        if get_dimensions(dL_dT_out) != (1 / second).dim:
            raise ValueError(f"dL_dT_out must be in 1/second (plain numbers or a quantity), got {dL_dT_out.dim}")
        dL_dT_out = np.asarray(dL_dT_out * second)
    delta = float_array(dL_dT_out, "dL_dT_out", (batch, net.sizes[-1]))
    if np.any((delta != 0) & ~np.isfinite(times[-1])):
        raise ValueError("dL_dT_out must be 0 for output neurons that did not spike (inf)")
    tau = net.model.tau_s_
    delta = delta * tau                                   # dL/dT in units of tau_s
    compiled = compiled_layer(net.model) if compiled else None
    limit = MAX_WEIGHT_GRADIENT.check(max_weight_gradient)
    limit = np.inf if limit is None else limit
    threads = check_threads(threads)
    if compiled is not None:                              # every layer in one call
        delays = [net.total_delays(layer) / tau for layer in range(len(net.weights))]
        weight_grads, arrival_grads, delta, guarded = compiled.backward(
            [t / tau for t in times], net.weights, delays, delta, limit, net.connectivity, threads)
    else:
        weight_grads, arrival_grads, guarded = [None] * len(net.weights), [None] * len(net.weights), 0
        for layer in reversed(range(len(net.weights))):
            weight_grads[layer], arrival_grads[layer], delta, count = _layer_backward(net, times, layer, delta, limit)
            guarded += count
    return network_gradients(net, weight_grads, arrival_grads, delta, guarded)


def network_gradients(net, weight_grads, arrival_grads, input_grads, guarded):
    """The :class:`Gradients` of ``net`` from a backward pass's sums, times in units of tau_s.

    Parameters
    ----------
    net : DelayNetwork
    weight_grads, arrival_grads : list of ndarray
        Per connection layer, ``(n_pre, n_post)``: dL/dw (per unit weight, times in units of tau_s) and dL/dt~
        summed over the batch.
    input_grads : ndarray, shape (batch, n_in)
        dL/dt of the input spike times.
    guarded : int
        (sample, neuron) errors dropped by the grazing guard.
    """
    tau = net.model.tau_s_
    delay_grads = []
    for layer, grad_arrival in enumerate(arrival_grads):
        reduced = reduce_arrival_gradient(grad_arrival, net.placements[layer], net.delay_groups[layer])
        delay_grads.append({p: g / tau for p, g in reduced.items()})
    return Gradients(weights=weight_grads, delays=delay_grads, input_times=input_grads / tau, guarded=guarded)


def _layer_backward(net, times, layer, delta, limit):
    """NumPy backward of one layer, in units of tau_s; as a layer of :meth:`CompiledLayer.backward`."""
    tau = net.model.tau_s_
    dT_dw, dT_darrival = spike_time_derivatives(net, times, layer)
    grazing = np.zeros(delta.shape, bool)
    if limit < np.inf:                        # V'(T) <= 0 gives inf/NaN entries: guarded too
        slope = _causal_kernels(net, times, layer)[2]
        with np.errstate(invalid="ignore"):
            grazing = (delta != 0) & (~(slope > 0) | ~(np.abs(dT_dw * delta[:, None, :]).max(axis=1) <= limit * tau))
    delta = np.where(grazing, 0.0, delta)
    dT_dw = np.where(grazing[:, None, :], 0.0, dT_dw)
    dT_darrival = np.where(grazing[:, None, :], 0.0, dT_darrival)
    arrival_grad = dT_darrival * delta[:, None, :]
    grad_w = np.einsum("bip,bp->ip", dT_dw, delta) / tau
    return grad_w, arrival_grad.sum(axis=0), arrival_grad.sum(axis=-1), int(grazing.sum())


def spike_time_derivatives(net, spike_times, layer):
    """Exact derivatives of the spike times of one layer with respect to its inputs.

    Parameters
    ----------
    net : DelayNetwork
    spike_times : list of ndarray
        Spike times of every layer in seconds (``inf`` = no spike).
    layer : int
        Connection layer: derivatives of the spike times of layer ``layer + 1``.

    Returns
    -------
    dT_dw : ndarray, shape (batch, n_pre, n_post)
        ``dT_j/dw_ij`` in seconds per unit weight.
    dT_darrival : ndarray, shape (batch, n_pre, n_post)
        ``dT_j/dt~_ij`` (dimensionless); for every spiking neuron ``j`` the sum
        over ``i`` is 1. Both are 0 for inputs outside the causal set, for
        missing synapses and for neurons that did not spike.
    """
    tau = net.model.tau_s_
    psp, dpsp, slope = _causal_kernels(net, spike_times, layer)
    spiking = np.isfinite(spike_times[layer + 1])[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        dT_dw = np.where(spiking, -tau * psp / slope[:, None, :], 0.0)
        dT_darrival = np.where(spiking, dpsp / slope[:, None, :], 0.0)
    return dT_dw, dT_darrival


def membrane_slopes(net, spike_times):
    """``V'(T)`` of every neuron at its spike, from spike times only.

    Parameters
    ----------
    net : DelayNetwork
    spike_times : list of ndarray
        Spike times of every layer in seconds.

    Returns
    -------
    list of ndarray
        One ``(batch, n)`` array per non-input layer, in units of
        ``1/tau_s`` (dimensionless membrane per ``tau_s``); ``inf`` for
        neurons that did not spike. Values near 0 mark grazing crossings.
    """
    slopes = []
    for layer in range(len(net.weights)):
        slope = _causal_kernels(net, spike_times, layer)[2]
        slopes.append(np.where(np.isfinite(spike_times[layer + 1]), slope, np.inf))
    return slopes


def _causal_kernels(net, spike_times, layer):
    """PSP and weighted PSP slope of every causal input at each spike, and V'(T), in units of tau_s."""
    kernel = derive_kernel(net.model)
    with np.errstate(invalid="ignore"):
        lag = (spike_times[layer + 1][:, None, :] - spike_times[layer][:, :, None]
               - net.total_delays(layer)[None]) / net.model.tau_s_
        causal = np.isfinite(lag) & (lag > 0) & net.connectivity[layer][None]    # a missing synapse is no input
    lag = np.where(causal, lag, 1.0)
    psp = np.where(causal, kernel.psp(lag), 0.0)
    dpsp = np.where(causal, kernel.dpsp(lag), 0.0) * net.weights[layer][None]
    return psp, dpsp, dpsp.sum(axis=1)


def _check_spike_times(net, spike_times):
    if not isinstance(spike_times, (list, tuple)) or len(spike_times) != len(net.sizes):
        raise ValueError(f"spike_times must be a list with one array per layer ({len(net.sizes)}), "
                         "as returned by a substrate's run()")
    times = [times_in_seconds(spike_times[0], "spike_times[0]", (None, net.sizes[0]), allow_inf=True)]
    batch = times[0].shape[0]
    for k in range(1, len(net.sizes)):
        times.append(times_in_seconds(spike_times[k], f"spike_times[{k}]", (batch, net.sizes[k]),
                                      allow_inf=True))
    return times
