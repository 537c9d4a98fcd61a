"""The compiled layer kernels: the same SymPy-derived formulas, one loop per (sample, neuron), compiled once per machine.

The vectorised NumPy passes in :mod:`~brian2_delgrad.exact.forward` and
:mod:`~brian2_delgrad.exact.gradients` evaluate every prefix of every neuron's
sorted inputs; at the small batches of training (150 samples) their cost is
dominated by array-call overhead. Here each kernel's SymPy expressions are printed as
scalar ``math`` code into a module with the loops
(:mod:`~brian2_delgrad.exact.forward_kernel`, :mod:`~brian2_delgrad.exact.backward_kernel`, their sort
:mod:`~brian2_delgrad.exact.sort`, Lambert W :mod:`~brian2_delgrad.exact.lambert`), compiled by numba and
cached on disk (:mod:`~brian2_delgrad.exact.kernel_cache`); a loop over (sample, neuron) stops at the first
valid crossing. Results agree with the NumPy passes to rounding (tested).
Used automatically where the kernel has two input statistics (true for
every ratio of the LIF model); the NumPy passes are the reference and the
fallback. This module calls a kernel's loops on threads.
"""
import functools
import time
from pathlib import Path

import numpy as np

from ..core.lif import LIFModel
from ..utils.memory import BLOCK_BYTES, chunk_size
from ..utils.notices import announce_once, notice
from ..utils.threads import kernel_threads
from .backward_kernel import WIDE
from .kernel_cache import cache_folder, kernel_module
from .step_kernel import NO_LOSS

__all__ = ["compiled_layer", "CompiledLayer"]


class CompiledLayer:
    """Compiled forward and backward passes for a kernel (see :func:`compiled_layer`).

    Each takes one layer or several consecutive ones in one call. The forward pass is one parallel
    region (each thread takes its samples through every layer); the backward pass runs the layers one
    after the other, each in two parallel regions back to back. Both run on
    :func:`~brian2_delgrad.utils.threads.get_num_threads` ``(threads)`` threads (by default one or all, whichever
    has measured faster for calls of the same kind and size: :func:`~brian2_delgrad.utils.threads.kernel_threads`)
    and give the same numbers, bit for bit, for any thread count; on one thread they do not touch numba's
    threading layer (so a process that forks afterwards stays safe). Working memory: a few vectors of ``n_pre`` per thread, the
    transposed parameters and gradients, ``(n_pre, n_post)`` each, and in the backward pass the PSPs and
    weighted PSP slopes of a block of samples, 16 bytes per sample and synapse (at most
    :data:`~brian2_delgrad.utils.memory.BLOCK_BYTES`, or one sample's); nothing else of size ``batch x
    synapses`` but the delay jitter, when the noise has it. Arrays are taken as C-contiguous float64
    (copied where they are not); shapes that do not chain raise ``ValueError``.
    """

    def __init__(self, module):
        self._module = module                          # the kernel's module (kernel_cache)

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
        jitters = [_NO_JITTER if j is None else j for j in jitters]
        return self._pass(pre_times, np.zeros(batch, dtype=np.int64), weights, delays, thresholds,
                          jitters, [_NOT_CONNECTED] * len(weights), tau, (NO_LOSS, _NO_PARAMETERS), np.inf, 0,
                          threads)[0]

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
        arguments = (tuple(times), tuple(_c_array(w.T) for w in weights), tuple(_c_array(d.T) for d in delays), delta,
                     float(limit), tuple(_c_array(c.T, np.bool_) for c in connected), _block(len(delta), weights))
        grad_w, grad_arrival = _gradient_arrays(weights)
        prefix = "wide_" if _wide(weights) else ""
        with kernel_threads(threads, ("backward", len(delta), tuple(np.shape(w) for w in weights))) as count:
            if count > 1:
                grad_input, guarded = _call(getattr(self._module, prefix + "backward_parallel"), "backward pass",
                                            *arguments, grad_w, grad_arrival, count)
            else:
                grad_input, guarded = _call(getattr(self._module, prefix + "backward_serial"), "backward pass",
                                            *arguments, grad_w, grad_arrival)
        return [g.T.copy() for g in grad_w], [g.T.copy() for g in grad_arrival], grad_input, guarded

    def step(self, pre_times, labels, weights, delays, thresholds, connected, tau, loss, limit, threads=None):
        """One training step in one call: spike times, the loss of every sample and the gradients of their sum.

        The forward pass of :meth:`forward`, a built-in loss (as :mod:`~brian2_delgrad.training.losses` computes
        it) and the backward pass of :meth:`backward`, with the same numbers.

        Parameters
        ----------
        pre_times : ndarray, shape (batch, n_in)
            Input spike times in units of tau_s; ``inf`` = silent.
        labels : ndarray of int64, shape (batch,)
            Index of the output neuron that should fire first.
        weights, delays, thresholds, tau
            As for :meth:`forward`: every layer (weights 0 for a missing synapse).
        connected : list of ndarray of bool
            As for :meth:`backward`.
        loss : tuple
            ``(code, parameters)``: a loss of :mod:`~brian2_delgrad.exact.step_kernel` (``SHIFT_MSE``,
            ``CROSS_ENTROPY``) and its parameters, float64.
        limit : float
            The grazing guard (``inf`` for none).
        threads : int, optional
            As for :meth:`forward`.

        Returns
        -------
        times : list of ndarray
            Per layer, ``(batch, n_post)`` spike times in seconds.
        losses : ndarray, shape (batch,)
            The loss of every sample.
        correct : ndarray of bool, shape (batch,)
            Whether the label neuron fired first.
        grad_w, grad_arrival, grad_input, guarded
            As :meth:`backward` returns them.
        """
        pre_times = _c_array(pre_times)
        batch = pre_times.shape[0]
        _check_layers("step", pre_times.shape[1:], weights, dict(delays=delays, connected=connected),
                      dict(thresholds=thresholds))
        if np.shape(labels) != (batch,) or any(np.shape(t) != (batch, w.shape[1]) for t, w in zip(thresholds, weights)):
            raise ValueError(f"step: labels must be (batch,) and thresholds (batch, n_post) per layer, got "
                             f"{np.shape(labels)} and {[np.shape(t) for t in thresholds]}")
        outs, losses, correct, grad_w, grad_arrival, grad_input, guarded = self._pass(
            pre_times, labels, weights, delays, thresholds, [_NO_JITTER] * len(weights), connected,
            tau, loss, limit, _block(batch, weights), threads)
        return outs, losses, correct, [g.T.copy() for g in grad_w], [g.T.copy() for g in grad_arrival], grad_input, \
            guarded

    def epoch(self, X, y, order, batch_size, weights, delays, thresholds, connected, tau, loss, limit, optimiser,
              threads=None):
        """A training epoch in one call: every minibatch's :meth:`step`, then the missing-spike rule or an Adam step.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_in)
            Input spike times in seconds; ``inf`` = silent.
        y : ndarray of int64, shape (n_samples,)
            Labels.
        order : ndarray of int64, shape (n_samples,)
            The epoch's order of the samples: minibatches of ``batch_size`` in turn, the last one smaller.
        batch_size : int
        weights, delays : list of ndarray
            Per layer, ``(n_pre, n_post)``: the network's weights (0 for a missing synapse) and total delays
            (units of tau_s) at the start; the optimiser's realisation after every step.
        thresholds : list of ndarray
            Per layer, ``(batch_size, n_post)``: the same in every batch.
        connected : list of ndarray of bool
            As for :meth:`backward`.
        tau, loss, limit
            As for :meth:`step`.
        optimiser : FlatOptimiser
            Its ``flat`` parameters and ``moments`` are updated in place, its ``steps`` and ``bump_now`` set.

        Returns
        -------
        totals : ndarray, shape (5,)
            Summed loss, correct samples, skipped batches, guarded errors, zeroed gradient entries.
        silent : ndarray, shape (n_layers,)
            Per layer, the sum over batches of the fraction of silent spike times per sample.
        stalls : ndarray of int64, shape (n_layers,)
            Per layer (the first hidden one first), how often its missing-spike bump reached ``2**20`` times its
            first value in this epoch.

        Notes
        -----
        The batches go in calls of at most :data:`EPOCH_CALL` synapse-samples (a Yin-Yang epoch in one, a
        Fashion-MNIST network's batch by batch), so that an interrupt (Ctrl-C) is taken within a second or so.
        Where NumPy would warn of an overflow in the optimiser (a gradient beyond 1e154), nothing warns; the
        numbers are the same.
        """
        X, n = _c_array(X), len(order)
        _check_layers("epoch", X.shape[1:], weights, dict(delays=delays, connected=connected),
                      dict(thresholds=thresholds))
        n_out, size = weights[-1].shape[1], sum(np.size(w) for w in weights)
        if not (np.shape(y) == (len(X),) and np.shape(order) == (n,) and int(batch_size) >= 1
                and (n == 0 or 0 <= np.min(order) and np.max(order) < len(X) and 0 <= np.min(y)
                     and np.max(y) < n_out)
                and all(np.shape(t)[0] >= min(batch_size, n) for t in thresholds)
                and optimiser.flat.shape == optimiser.rates.shape == optimiser.moments[0].shape
                == optimiser.moments[1].shape and len(optimiser.flat) >= size
                and len(optimiser.used) == len(optimiser.flat) - size):
            raise ValueError(f"epoch: X {np.shape(X)}, y {np.shape(y)}, order {np.shape(order)} (indices into X), "
                             f"labels below {n_out}, batch_size {batch_size} >= 1, thresholds of at least that many "
                             f"rows and an optimiser of {size} weights and its delays' parameters do not fit")
        sets = [_batch_set(size, weights, thresholds) for size in (min(batch_size, n), n % batch_size or batch_size)]
        network = (tuple(_c_array(w.T) for w in weights), tuple(_c_array(d.T) for d in delays),
                   tuple(_c_array(c.T, np.bool_) for c in connected), (_NO_JITTER,) * len(weights),
                   tuple(_c_array(c.any(axis=0), np.bool_) for c in connected)) + _gradient_arrays(weights)
        code, parameters = loss
        numbers = np.array([*optimiser.adam, *optimiser.bounds[1:], optimiser.bump, *optimiser.silence, tau,
                            optimiser.bounds[0]], dtype=np.float64)
        state, totals, silent = np.array([optimiser.steps, optimiser.bump_now], dtype=np.float64), np.zeros(5), \
            np.zeros(len(weights))
        stalls = np.zeros(len(weights), dtype=np.int64)
        arguments = (X, _c_array(y, np.int64), _c_array(order, np.int64), int(batch_size), *sets, network,
                     (int(code), _c_array(parameters), float(limit)), optimiser.plan, optimiser.groups, optimiser.used,
                     optimiser.flat, np.empty_like(optimiser.flat), optimiser.moments, optimiser.rates, numbers, state,
                     totals, silent, stalls)
        prefix = "wide_" if _wide(weights) else ""
        step = batch_size * max(1, EPOCH_CALL // (batch_size * size))        # samples per call
        for begin in range(0, n, step):
            with kernel_threads(threads, ("epoch", min(step, n), batch_size, tuple(np.shape(w) for w in weights))) \
                    as count:
                if count > 1:
                    _call(getattr(self._module, prefix + "epoch_parallel"), _EPOCH, *arguments, begin,
                          min(begin + step, n), count)
                else:
                    _call(getattr(self._module, prefix + "epoch_serial"), _EPOCH, *arguments, begin,
                          min(begin + step, n))
            optimiser.steps, optimiser.bump_now = int(state[0]), float(state[1])
        return totals, silent, stalls

    def _pass(self, pre_times, labels, weights, delays, thresholds, jitters, connected, tau, loss, limit, block,
              threads):
        """The step kernel on the chosen threads: a forward pass, its loss (unless ``NO_LOSS``) and its backward
        pass (unless ``block`` is 0); the arguments as :meth:`step` takes them, checked, ``jitters`` as
        :meth:`forward`'s (no ``None``)."""
        batch = pre_times.shape[0]
        outs = tuple(np.empty((batch, w.shape[1])) for w in weights)
        grad_w, grad_arrival = _gradient_arrays(weights if block else [_NOT_CONNECTED] * len(weights))
        losses, correct = np.empty(batch), np.empty(batch, dtype=np.bool_)
        code, parameters = loss
        arguments = ((pre_times,) + tuple(np.empty(out.shape) for out in outs), _c_array(labels, np.int64),
                     tuple(_c_array(w.T) for w in weights), tuple(_c_array(d.T) for d in delays),
                     tuple(_c_array(t) for t in thresholds), tuple(_c_array(j) for j in jitters),
                     tuple(_c_array(c.T, np.bool_) for c in connected), float(tau), int(code), _c_array(parameters),
                     float(limit), block, outs, losses, correct, grad_w, grad_arrival)
        kind = ("step" if block else "forward", batch, tuple(np.shape(w) for w in weights))
        prefix = "wide_" if block and _wide(weights) else ""        # a forward pass is the same either way
        with kernel_threads(threads, kind) as count:
            if count > 1:
                grad_input, guarded = _call(getattr(self._module, prefix + "step_parallel"), _STEP, *arguments, count)
            else:
                grad_input, guarded = _call(getattr(self._module, prefix + "step_serial"), _STEP, *arguments)
        return list(outs), losses, correct, grad_w, grad_arrival, grad_input, int(guarded)


#: Most synapse-samples (a sample's pass through one synapse) per call of the epoch kernel: about a second's work.
EPOCH_CALL = 50_000_000
#: What the step and epoch kernels are called where their compilation is announced.
_STEP, _EPOCH = "forward pass and training step", "training epoch"
#: The delay jitter of a layer without any, the synapses and loss parameters of a forward pass.
_NO_JITTER, _NOT_CONNECTED, _NO_PARAMETERS = np.zeros((0, 0, 0)), np.zeros((0, 0), dtype=np.bool_), np.zeros(0)


def _wide(weights):
    """Whether the backward pass is a wide network's (:mod:`~brian2_delgrad.exact.backward_kernel`: a layer of at
    least ``WIDE`` inputs; its own kernels, compiled where a wide network first needs them)."""
    return any(np.shape(w)[0] >= WIDE for w in weights)


def _batch_set(size, weights, thresholds):
    """The working arrays of a minibatch of ``size`` samples in :meth:`CompiledLayer.epoch`: the spike times of
    every layer (units of tau_s), thresholds (the first ``size`` rows), spike times in seconds, losses, whether
    each is correct, labels and the backward pass's block."""
    return (tuple(np.empty((size, n)) for n in [weights[0].shape[0]] + [w.shape[1] for w in weights]),
            tuple(_c_array(t[:size]) for t in thresholds), tuple(np.empty((size, w.shape[1])) for w in weights),
            np.empty(size), np.empty(size, dtype=np.bool_), np.empty(size, dtype=np.int64), _block(size, weights))


def _block(batch, weights):
    """Samples per block of a backward pass: their terms, 16 bytes per sample and synapse, within
    :data:`~brian2_delgrad.utils.memory.BLOCK_BYTES` (at least one sample)."""
    return chunk_size(batch, 16 * sum(np.size(w) for w in weights), BLOCK_BYTES)


def _gradient_arrays(weights):
    """Empty dL/dw and dL/dt~ of every layer, shaped as the transposed ``weights``, as tuples."""
    return tuple(np.empty(w.T.shape) for w in weights), tuple(np.empty(w.T.shape) for w in weights)


def _call(dispatcher, what, *args):
    """``dispatcher(*args)``; where it compiles (nothing in the disk cache for these argument types), say so before
    and how long it took after."""
    if dispatcher.overloads:                           # compiled in this process already, for some types
        return dispatcher(*args)
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if not Path(getattr(cache_file, "_index_path", "")).is_file():
        announce_once("kernels", f"compiling the exact simulator's kernels for this machine (about a minute, once; "
                                 f"cached in {cache_folder()})")
    misses, start = sum(dispatcher.stats.cache_misses.values()), time.perf_counter()
    result = dispatcher(*args)
    if sum(dispatcher.stats.cache_misses.values()) > misses:
        notice(f"compiled the {what} in {time.perf_counter() - start:.1f} s")
    return result


def _c_array(array, dtype=np.float64):
    """``array`` as a writeable C-contiguous array of ``dtype`` (a copy only where it is not one): the kernels
    take tuples of arrays, which numba types only if every item has the same type."""
    if type(array) is np.ndarray and array.dtype == dtype and array.flags.c_contiguous and array.flags.writeable:
        return array                                   # the common case, without a copy
    return np.array(array, dtype=dtype, order="C")     # a new array: writeable (np.require costs 3 us more)


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


def compiled_layer(model, closed_form=True):
    """The compiled layer of ``model``'s kernel, or ``None`` where only the NumPy passes apply.

    Parameters
    ----------
    model : LIFModel
        Any model :func:`~brian2_delgrad.exact.kernel.derive_kernel` takes.
    closed_form : bool
        The closed-form crossing where the ratio has one; ``False``: root finding.

    Notes
    -----
    A process looks a :class:`~brian2_delgrad.core.lif.LIFModel`'s kernel up once (in the kernel cache folder
    of that moment, :func:`~brian2_delgrad.exact.kernel_cache.cache_folder`); other models at every call.
    """
    if type(model) is LIFModel:                 # immutable and hashed by its values
        return _lif_layer(model, closed_form)
    module = kernel_module(model, closed_form)
    return None if module is None else _layer(module)


@functools.lru_cache(maxsize=64)
def _lif_layer(model, closed_form):
    module = kernel_module(model, closed_form)
    return None if module is None else _layer(module)


@functools.lru_cache(maxsize=32)
def _layer(module):
    return CompiledLayer(module)
