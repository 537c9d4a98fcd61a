"""The exact event-based simulator as a substrate: :func:`~brian2_delgrad.exact.forward.forward` with a chip's noise."""
import numpy as np

from ..exact.compiled import compiled_layer
from ..exact.forward import forward
from ..exact.step import training_epoch, training_step
from ..utils.settings import Setting, check_settings, takes_settings
from ..utils.threads import check_threads
from .base import Substrate
from .noise import forward_passes

__all__ = ["ExactSubstrate"]


class ExactSubstrate(Substrate):
    """Exact, event-based simulation of a :class:`~brian2_delgrad.core.network.DelayNetwork`.

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
        (:mod:`~brian2_delgrad.exact.compiled`); ``False`` forces the vectorised
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
        Default, and always without noise (nothing is drawn per pass): the
        whole input is one pass.
    threads : int, optional
        Threads of the compiled kernel (the batch is split across them; the
        spike times are the same, bit for bit, for any count). Default: the
        process default, ``BRIAN2_DELGRAD_THREADS``, or every core
        (:mod:`~brian2_delgrad.utils.threads`). A :class:`~brian2_delgrad.Trainer`
        runs its backward pass on as many.
    """

    #: Its own settings, declared once (``batch_size`` and the noise are every substrate's).
    SETTINGS = (Setting("closed_form", "boolean", doc="closed-form crossings for tau_m/tau_s in {1, 2}", default=True),
                Setting("compiled", "boolean", doc="the numba-compiled layer kernel", default=True))

    @takes_settings(SETTINGS)
    def __init__(self, closed_form=..., compiled=..., noise=None, seed=None, pattern_seed=None, batch_size=None,
                 threads=None):
        values = check_settings(self.SETTINGS, locals())
        self.closed_form, self.compiled = values["closed_form"], values["compiled"]
        self.threads = check_threads(threads)
        super().__init__(noise, seed, pattern_seed, batch_size)

    @classmethod
    def unsupported_noise(cls, **options):
        return {"membrane": "it solves the noise-free equations exactly; use Brian2Substrate for membrane noise"}

    def _run(self, net, times):
        passes = [self._run_pass(net, times[k:k + size]) for k, size in self._passes(len(times))]
        return [np.concatenate(layer) for layer in zip(*passes)]

    def _passes(self, count):
        """``(start, size)`` of the forward passes of ``count`` samples: without noise nothing is drawn per pass,
        and all of them go in one (one parallel region of the compiled kernel)."""
        return forward_passes(count, None if self.noise.is_ideal else self.batch_size)

    def _run_pass(self, net, times):
        """One forward pass: the noise of a pass is drawn once for it."""
        times, thresholds = self._pass_noise(net, times)
        return forward(net, times, thresholds, self.closed_form, self.compiled,
                       self.threads, delay_jitter=self._source.jitter if self.noise.delay_jitter else None,
                       spike_jitter=self._source.shift_spikes if self.noise.spike_jitter else None)

    def _pass_noise(self, net, times):
        """The input spike times and the thresholds of one forward pass, its noise drawn."""
        times = self._source.shift_spikes(times)
        return times, self._source.thresholds(net, len(times))

    def step(self, net, times, labels, loss, limit):
        """A training step in one compiled call (:func:`~brian2_delgrad.exact.step.training_step`), with the noise
        drawn as :meth:`run` draws it.

        Parameters
        ----------
        net : DelayNetwork
        times : ndarray, shape (batch, n_in)
            Checked input spike times in seconds.
        labels : ndarray of int64, shape (batch,)
        loss : tuple
            ``(code, parameters)`` of :func:`~brian2_delgrad.training.losses.kernel_loss`.
        limit : float
            The grazing guard (``inf`` for none).

        Returns
        -------
        tuple or None
            ``(spike_times, losses, correct, gradients)`` as
            :func:`~brian2_delgrad.exact.step.training_step` returns them; ``None`` with the NumPy passes, delay
            or spike jitter (drawn between the layers) or a model without compiled kernels.
        """
        if (not self.compiled or self.noise.delay_jitter or self.noise.spike_jitter
                or compiled_layer(net.model, self.closed_form) is None):
            return None
        passes = [self._pass_noise(net, times[k:k + size]) for k, size in self._passes(len(times))]
        inputs, thresholds = passes[0][0].copy(), passes[0][1]      # (the input times returned are a copy)
        if len(passes) > 1:
            inputs = np.concatenate([pass_times for pass_times, _ in passes])
            thresholds = [np.concatenate(layer) for layer in zip(*(pass_thresholds for _, pass_thresholds in passes))]
        return training_step(net, inputs, thresholds, labels, loss, limit, self.closed_form, self.threads)

    def epoch(self, net, X, y, order, batch_size, loss, limit, optimiser):
        """A training epoch in one compiled call (:func:`~brian2_delgrad.exact.step.training_epoch`), where nothing
        is drawn per batch: ``None`` with the NumPy passes, threshold noise drawn per batch or trial, delay or spike
        jitter, or a model without compiled kernels (a fixed threshold pattern is the same in every batch).

        Parameters
        ----------
        net : DelayNetwork
        X : ndarray, shape (n_samples, n_in)
            Checked input spike times in seconds.
        y : ndarray of int64, shape (n_samples,)
        order : ndarray of int64, shape (n_samples,)
            The samples in the order of the epoch's minibatches.
        batch_size : int
        loss : tuple
            ``(code, parameters)`` of :func:`~brian2_delgrad.training.losses.kernel_loss`.
        limit : float
            The grazing guard (``inf`` for none).
        optimiser : FlatOptimiser
            The optimiser's state (:class:`~brian2_delgrad.exact.step.FlatOptimiser`), updated in place.

        Returns
        -------
        tuple or None
            ``(totals, silent, stalls)`` as :func:`~brian2_delgrad.exact.step.training_epoch` returns them.
        """
        noise, own = self.noise, type(self)
        if not self.compiled or noise.delay_jitter or noise.spike_jitter or noise.threshold_batch \
                or noise.threshold_trial or own.step is not ExactSubstrate.step \
                or own._pass_noise is not ExactSubstrate._pass_noise:     # a subclass's own step: batch by batch
            return None
        thresholds = self._source.thresholds(net, min(batch_size, len(order)))
        return training_epoch(net, X, y, order, batch_size, thresholds, loss, limit, optimiser, self.closed_form,
                              self.threads)

    def __repr__(self):
        noise = "" if self.noise.is_ideal else f", noise={self.noise!r}"
        batch = "" if self.batch_size is None else f", batch_size={self.batch_size}"
        threads = "" if self.threads is None else f", threads={self.threads}"
        return f"ExactSubstrate(closed_form={self.closed_form}, compiled={self.compiled}{noise}{batch}{threads})"
