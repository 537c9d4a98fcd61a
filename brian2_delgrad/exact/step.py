"""Training on the exact simulator in compiled calls: a step (spike times, a built-in loss and its gradients) or a
whole epoch of steps with the optimiser's updates.

The forward pass of :func:`~brian2_delgrad.exact.forward.forward`, the loss of
:mod:`~brian2_delgrad.training.losses` and the backward pass of
:func:`~brian2_delgrad.exact.gradients.backward`, with the same numbers bit for bit, in
:meth:`~brian2_delgrad.exact.compiled.CompiledLayer.step` (one parallel region per block of samples for the
three, one for the sums). A :class:`~brian2_delgrad.Trainer` on the exact substrate takes this way where the
substrate draws nothing between the layers (no delay or spike jitter) and the loss is a built-in one; where
nothing is drawn per batch at all and the optimiser has no weight grid, it takes a whole epoch in one call
(:func:`training_epoch`: the steps, the missing-spike rule and Adam of
:mod:`~brian2_delgrad.training.optim`, in :mod:`~brian2_delgrad.exact.epoch_kernel`).
"""
from dataclasses import dataclass

import numpy as np

from .compiled import compiled_layer
from .gradients import network_gradients

__all__ = ["training_step", "training_epoch", "FlatOptimiser"]


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
    weights, delays = _kernel_layers(net)
    outs, losses, correct, weight_grads, arrival_grads, input_grads, guarded = compiled.step(
        times / tau, labels, weights, delays, thresholds, net.connectivity, tau, loss, limit, threads)
    return [times] + outs, losses, correct, network_gradients(net, weight_grads, arrival_grads, input_grads, guarded)


@dataclass
class FlatOptimiser:
    """An optimiser's state as :func:`training_epoch` takes it and updates it (the arrays in place).

    Attributes
    ----------
    flat : ndarray of float64, shape (n,)
        The weights of every layer, ``(n_pre, n_post)`` each, then the free parameters of every layer and
        placement (dimensionless).
    moments : tuple of ndarray
        Adam's first and second moments, ``(n,)`` each.
    rates : ndarray of float64, shape (n,)
        The learning rate of every entry.
    plan : ndarray of int64, shape (n_placements, 4)
        Where the free parameters are: ``(layer, placement, offset, tied)`` per layer and placement in the order
        of ``flat``, the placement a code of :mod:`~brian2_delgrad.exact.epoch_kernel` (``AXONAL``, ...).
    groups : tuple of ndarray of int64
        Per layer, the group of every presynaptic neuron where its delays are tied (else empty).
    used : ndarray of bool, shape (n - n_weights,)
        Which free parameters delay a synapse (the others' delays are 0).
    bounds : tuple
        ``(code, low, high)``: the delay bounds (``SIGMOID``, ``CLIP``) and their range in seconds.
    adam : tuple of float
        ``(beta1, beta2, eps)``.
    silence : tuple of float
        The missing-spike rule's limits ``(hidden, output)``.
    bump : float
        The first bump of the missing-spike rule.
    steps : int
        Adam's steps so far (set after the epoch).
    bump_now : float
        The current bump (set after the epoch).
    """

    flat: np.ndarray
    moments: tuple
    rates: np.ndarray
    plan: np.ndarray
    groups: tuple
    used: np.ndarray
    bounds: tuple
    adam: tuple
    silence: tuple
    bump: float
    steps: int
    bump_now: float


def training_epoch(net, X, y, order, batch_size, thresholds, loss, limit, optimiser, closed_form=True, threads=None):
    """A training epoch in one compiled call, or ``None`` without compiled kernels.

    Parameters
    ----------
    net : DelayNetwork
        Its parameters at the start (they are the optimiser's realisation); not changed: the optimiser's owner
        realises ``optimiser.flat`` into it afterwards.
    X : ndarray, shape (n_samples, n_in)
        Input spike times in seconds (checked by the caller), ``inf`` = no spike.
    y : ndarray of int64, shape (n_samples,)
        Labels, checked by the caller.
    order : ndarray of int64, shape (n_samples,)
        The samples in the order of the epoch's minibatches.
    batch_size : int
    thresholds : list of ndarray
        Per non-input layer, ``(batch_size, n)``: the same in every batch.
    loss, limit, closed_form, threads
        As for :func:`training_step`.
    optimiser : FlatOptimiser
        Updated in place.

    Returns
    -------
    tuple or None
        ``(totals, silent, stalls)`` of :meth:`~brian2_delgrad.exact.compiled.CompiledLayer.epoch`.
    """
    compiled = compiled_layer(net.model, closed_form)
    if compiled is None:
        return None
    weights, delays = _kernel_layers(net)
    return compiled.epoch(X, y, order, batch_size, weights, delays, thresholds, net.connectivity, net.model.tau_s_,
                          loss, limit, optimiser, threads)


def _kernel_layers(net):
    """The compiled kernels' view of ``net``'s connection layers: weights with 0 for a missing synapse and the total
    delay of every synapse in units of tau_s, ``(n_pre, n_post)`` each."""
    weights = [np.where(mask, w, 0.0) for w, mask in zip(net.weights, net.connectivity)]
    return weights, [net.total_delays(layer) / net.model.tau_s_ for layer in range(len(weights))]
