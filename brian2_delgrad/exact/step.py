"""One training step of the exact simulator in one compiled call: spike times, a built-in loss and its gradients.

The forward pass of :func:`~brian2_delgrad.exact.forward.forward`, the loss of
:mod:`~brian2_delgrad.training.losses` and the backward pass of
:func:`~brian2_delgrad.exact.gradients.backward`, with the same numbers bit for bit, in
:meth:`~brian2_delgrad.exact.compiled.CompiledLayer.step` (one parallel region per block of samples for the
three, one for the sums). A :class:`~brian2_delgrad.Trainer` on the exact substrate takes this way where the
substrate draws nothing between the layers (no delay or spike jitter) and the loss is a built-in one.
"""
import numpy as np

from .compiled import compiled_layer
from .gradients import network_gradients

__all__ = ["training_step"]


def training_step(net, times, thresholds, labels, loss, limit, closed_form=True, threads=None):
    """Spike times, losses and gradients of a batch in one compiled call, or ``None`` without compiled kernels.

    Parameters
    ----------
    net : DelayNetwork
    times : ndarray, shape (batch, n_in)
        Input spike times in seconds (checked by the caller), ``inf`` = no spike.
    thresholds : list of ndarray
        Per non-input layer, ``(batch, n)``: the threshold of every neuron in every sample.
    labels : ndarray of int64, shape (batch,)
        Checked by the caller.
    loss : tuple
        ``(code, parameters)`` of :func:`~brian2_delgrad.training.losses.kernel_loss`.
    limit : float
        The grazing guard (``inf`` for none).
    closed_form : bool
        The closed-form crossing where the model's ratio has one.
    threads : int, optional
        As for :func:`~brian2_delgrad.exact.forward.forward`; the numbers do not depend on it.

    Returns
    -------
    tuple or None
        ``(spike_times, losses, correct, gradients)``: every layer's spike times in seconds, the input layer
        first; the loss of every sample, ``(batch,)``; whether its label neuron fired first, ``(batch,)`` bool;
        the :class:`~brian2_delgrad.exact.gradients.Gradients` of the summed loss (as
        :func:`~brian2_delgrad.exact.gradients.backward` returns them). ``None`` where the model has no compiled
        kernel.
    """
    compiled = compiled_layer(net.model, closed_form)
    if compiled is None:
        return None
    tau = net.model.tau_s_
    weights = [np.where(mask, w, 0.0) for w, mask in zip(net.weights, net.connectivity)]
    delays = [net.total_delays(layer) / tau for layer in range(len(weights))]
    outs, losses, correct, weight_grads, arrival_grads, input_grads, guarded = compiled.step(
        times / tau, labels, weights, delays, thresholds, net.connectivity, tau, loss, limit, threads)
    return [times] + outs, losses, correct, network_gradients(net, weight_grads, arrival_grads, input_grads, guarded)
