"""The base of every substrate: inputs checked once, declared noise support, the noise state checkpoints keep."""
import numpy as np

from ..core.network import check_network
from ..utils.checks import times_in_seconds
from .noise import Noise, NoiseSource, check_batch_size

__all__ = ["Substrate"]


class Substrate:
    """A forward pass: input spike times in, the spike times of every layer out, with its noise.

    A new substrate subclasses this, implements :meth:`_run` and declares
    which kinds of :class:`~brian2_delgrad.substrates.Noise` it cannot apply
    (:meth:`unsupported_noise`); registered by name
    (:func:`~brian2_delgrad.substrates.register_substrate`) it is available
    to model files, the CLI and studies.

    Parameters
    ----------
    noise : Noise, optional
        Noise it applies (default none); a kind it cannot apply is an error.
    seed : int, optional
        Seed of the noise.
    pattern_seed : int, optional
        Seed of the fixed threshold pattern alone (default ``seed``).
    batch_size : int, optional
        Samples per forward pass (each pass draws its own batch-to-batch
        noise); ``None``: a whole run is one pass.
    **options
        The subclass's options that :meth:`unsupported_noise` depends on.

    Attributes
    ----------
    noise : Noise
    batch_size : int or None
    threads : int or None
        Threads of its kernels, which a :class:`~brian2_delgrad.Trainer`'s
        backward pass uses too (``None``: the process default).
    """

    #: Earliest input time the substrate can take, in seconds (``None``: any).
    earliest_input = None
    #: Threads of the kernels (``None``: the process default); a subclass with kernels of its own sets it.
    threads = None

    def __init__(self, noise=None, seed=None, pattern_seed=None, batch_size=None, **options):
        self.batch_size = check_batch_size(batch_size)
        self._source = NoiseSource(noise, seed, pattern_seed)
        self.noise = self._source.noise
        for kind, reason in self.unsupported_noise(**options).items():
            if getattr(self.noise, kind) != getattr(Noise(), kind):
                raise ValueError(f"noise: {type(self).__name__} has no {kind.replace('_', ' ')} noise: {reason}")

    @classmethod
    def unsupported_noise(cls, **options):
        """The :class:`Noise` fields this substrate cannot apply, with the reason.

        Parameters
        ----------
        **options
            The substrate's own constructor options (e.g. a Brian2 target), which may matter.

        Returns
        -------
        dict
            ``{field: reason}``, both str; empty if it applies every kind.
        """
        return {}

    def run(self, net, input_times):
        """Spike times of every layer.

        Parameters
        ----------
        net : DelayNetwork
            The network to run (not changed).
        input_times : Quantity or array_like, shape (batch, n_in)
            Input spike times (Brian2 quantity, or float seconds); ``inf`` = no spike.

        Returns
        -------
        list of ndarray
            One float64 array of shape ``(batch, n)`` per layer, the input layer
            first, in seconds; ``inf`` means the neuron did not spike.
        """
        check_network(net)
        times = times_in_seconds(input_times, "input_times", (None, net.sizes[0]), allow_inf=True,
                                 minimum=self.earliest_input)
        if len(times) == 0:
            return [times] + [np.empty((0, n)) for n in net.sizes[1:]]
        return self._run(net, times)

    def _run(self, net, times):
        """The forward pass of checked, non-empty input times (float64 seconds, (batch, n_in))."""
        raise NotImplementedError

    def step(self, net, times, labels, loss, limit):
        """A training step in one call, where this substrate has one: the forward pass, a built-in loss and the
        backward pass (as :func:`~brian2_delgrad.exact.step.training_step`), else ``None``.

        A :class:`~brian2_delgrad.Trainer` asks every batch; with ``None`` it runs :meth:`run`, the loss and
        :func:`~brian2_delgrad.exact.gradients.backward` one after the other (what a substrate without compiled
        kernels, such as Brian2 or a chip, does).

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
            :func:`~brian2_delgrad.exact.step.training_step` returns them.
        """
        return None

    def epoch(self, net, X, y, order, batch_size, loss, limit, optimiser):
        """A training epoch in one call, where this substrate has one (as
        :func:`~brian2_delgrad.exact.step.training_epoch`), else ``None``.

        A :class:`~brian2_delgrad.Trainer` asks every epoch where its loss is a built-in one and its optimiser
        can be run compiled; with ``None`` it takes the batches one by one (:meth:`step`, or :meth:`run` and the
        backward pass).

        Parameters
        ----------
        net : DelayNetwork
        X : ndarray, shape (n_samples, n_in)
            Checked input spike times in seconds.
        y : ndarray of int64, shape (n_samples,)
        order : ndarray of int64, shape (n_samples,)
            The samples in the order of the epoch's minibatches.
        batch_size : int
        loss, limit
            As for :meth:`step`.
        optimiser : FlatOptimiser
            The optimiser's state (:class:`~brian2_delgrad.exact.step.FlatOptimiser`), updated in place.

        Returns
        -------
        tuple or None
            ``(totals, silent, stalls)`` as :func:`~brian2_delgrad.exact.step.training_epoch` returns them.
        """
        return None

    def recorded_settings(self):
        """The settings a training's results depend on beyond the network, the noise and the target name.

        Returns
        -------
        dict
            JSON values for a run's record (``run.json``): a run resumes only with the same; none by default.
        """
        return {}

    @property
    def random_state(self):
        """State of the noise drawn per run (a JSON-serialisable dict); a checkpoint saves and restores it."""
        return self._source.state

    @random_state.setter
    def random_state(self, value):
        self._source.state = value

