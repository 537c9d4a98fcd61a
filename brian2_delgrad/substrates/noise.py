"""Substrate noise: what a chip or a noisy simulation adds to the ideal model, seeded and reproducible."""
from dataclasses import dataclass

import numpy as np

from ..utils.checks import float_array, seed_value, times_in_seconds
from ..utils.settings import Setting

__all__ = ["Noise", "NoiseSource", "forward_passes", "check_batch_size", "BATCH_SIZE", "NOISE_KINDS", "TRAIN_NOISE",
           "noise_in_units"]


@dataclass(frozen=True)
class Noise:
    """Noise of a substrate (all zero by default: the ideal model).

    Parameters
    ----------
    threshold_pattern : tuple of float
        ``(mean, std)`` of a per-neuron threshold offset drawn once (fixed
        pattern noise), in units of the membrane ``v`` (like ``theta``). All
        batch copies of a neuron share it, as they share a circuit on a chip.
    threshold_trial : float
        Standard deviation of a per-neuron threshold offset redrawn in every
        sample of every run (trial-to-trial noise), in units of ``v``.
    delay_jitter : Quantity or float
        Standard deviation of a Gaussian jitter of every delayed spike (a
        time; floats are seconds), redrawn every run; arrival times are kept
        at or after the presynaptic spike.
    membrane : float
        Standard deviation, in units of ``v``, of the free membrane's stationary fluctuations
        (``dv = ... + membrane * sqrt(2/tau_m) * xi``): only a simulator has it.
    spike_jitter : Quantity or float
        Standard deviation of a Gaussian shift of every spike (inputs
        included) as the network and the recording see it, redrawn every run:
        the same for every placement, earlier or later alike. Only the exact
        substrate has it (Brian2 cannot deliver a spike before it was sent).
    threshold_batch : float
        Standard deviation of a per-neuron threshold offset drawn once per
        forward pass and shared by every sample of it (batch-to-batch noise,
        as on BrainScaleS-2), in units of ``v``. A substrate's ``batch_size``
        sets how many samples a pass holds (default: a whole run); give it
        the training batch size, as model files do.
    """

    threshold_pattern: tuple = (0.0, 0.0)
    threshold_trial: float = 0.0
    delay_jitter: object = 0.0
    membrane: float = 0.0
    spike_jitter: object = 0.0
    threshold_batch: float = 0.0

    def __post_init__(self):
        pattern = self.threshold_pattern
        if not (isinstance(pattern, (tuple, list, np.ndarray)) and np.shape(pattern) == (2,)):
            raise ValueError(f"threshold_pattern must be (mean, std), got {pattern!r}")
        pattern = (float_array(pattern[0], "threshold_pattern[0]", ()),
                   float_array(pattern[1], "threshold_pattern[1]", (), minimum=0.0))
        object.__setattr__(self, "threshold_pattern", tuple(float(v) for v in pattern))
        for name in ("threshold_trial", "threshold_batch", "membrane"):
            if isinstance(getattr(self, name), (bool, str)):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
            object.__setattr__(self, name, float(float_array(getattr(self, name), name, (), minimum=0.0)))
        for name in ("delay_jitter", "spike_jitter"):
            object.__setattr__(self, name, float(times_in_seconds(getattr(self, name), name, (), minimum=0.0)))

    def __add__(self, other):
        """Both noises at once: independent Gaussian sources, so standard deviations add in quadrature.

        Examples
        --------
        >>> (Noise(threshold_trial=0.03) + Noise(threshold_trial=0.04)).threshold_trial
        0.05
        """
        if not isinstance(other, Noise):
            return NotImplemented
        pattern = (self.threshold_pattern[0] + other.threshold_pattern[0],
                   float(np.hypot(self.threshold_pattern[1], other.threshold_pattern[1])))
        return Noise(threshold_pattern=pattern,
                     **{name: float(np.hypot(getattr(self, name), getattr(other, name)))
                        for name in ("threshold_trial", "threshold_batch", "delay_jitter", "membrane",
                                     "spike_jitter")})

    @property
    def is_ideal(self):
        """Whether there is no noise at all."""
        return self == _IDEAL


#: The ideal model's noise (none), to compare with: asked for in every training step.
_IDEAL = Noise()

#: The noise of studies by kind: the :class:`Noise` field it sets and the unit of its level (``'tau_s'`` or
#: ``'theta'``); the one vocabulary of study files, trial columns, figures and :func:`noise_in_units`.
NOISE_KINDS = {"spike_jitter": ("spike_jitter", "tau_s"), "delay_jitter": ("delay_jitter", "tau_s"),
               "threshold_noise": ("threshold_trial", "theta"), "membrane_noise": ("membrane", "theta")}

#: The kinds a network can be trained under (a study's grid keys ``train_<kind>``); membrane noise needs Brian2.
TRAIN_NOISE = ("spike_jitter", "delay_jitter", "threshold_noise")


def noise_in_units(levels, tau_s, theta):
    """A :class:`Noise` from ``{kind: level}``, kinds of :data:`NOISE_KINDS`, levels in units of ``tau_s`` (seconds)
    or ``theta``.

    Examples
    --------
    >>> noise_in_units({"delay_jitter": 0.1, "threshold_noise": 0.05}, tau_s=5e-3, theta=1.0)
    Noise(threshold_pattern=(0.0, 0.0), threshold_trial=0.05, delay_jitter=0.0005, membrane=0.0, spike_jitter=0.0, threshold_batch=0.0)
    """
    units = dict(tau_s=float(tau_s), theta=float(theta))
    return Noise(**{NOISE_KINDS[kind][0]: level * units[NOISE_KINDS[kind][1]] for kind, level in levels.items()})


class NoiseSource:
    """Draws a :class:`Noise`: the fixed pattern once per network shape, the rest every run.

    Parameters
    ----------
    noise : Noise or None
        ``None`` for the ideal model.
    seed : int or None
        Same seed, same numbers (separate streams for the pattern and the trials).
    pattern_seed : int or None
        Seed of the fixed pattern alone (default ``seed``): the same
        ``pattern_seed`` with another ``seed`` is the same chip with new
        trial-to-trial noise.
    """

    def __init__(self, noise, seed, pattern_seed=None):
        noise = Noise() if noise is None else noise
        if not isinstance(noise, Noise):
            raise ValueError(f"noise must be a Noise, got {type(noise).__name__}")
        seed, pattern_seed = seed_value(seed, "seed"), seed_value(pattern_seed, "pattern_seed")
        sequence = np.random.SeedSequence(seed)
        pattern_seed_sequence, trial_seed, simulator_seed = sequence.spawn(3)
        if pattern_seed is not None:
            pattern_seed_sequence = np.random.SeedSequence(pattern_seed).spawn(3)[0]
        self.noise = noise
        self._pattern_seed = pattern_seed_sequence
        self._patterns = {}
        self._trials = np.random.default_rng(trial_seed)
        self._simulator = np.random.default_rng(simulator_seed)

    def thresholds(self, net, batch):
        """Threshold of every neuron in every sample: one ``(batch, n)`` array per non-input layer.

        One call is one forward pass: the batch-to-batch offsets are drawn once
        per neuron and shared by the ``batch`` samples, the trial-to-trial ones
        per sample.
        """
        if not (any(self.noise.threshold_pattern) or self.noise.threshold_batch or self.noise.threshold_trial):
            return [np.full((batch, n), net.model.theta) for n in net.sizes[1:]]
        key = tuple(net.sizes)                 # the neurons, as circuits: not the delays or the order of use
        if key not in self._patterns:
            rng = np.random.default_rng(np.random.SeedSequence(self._pattern_seed.entropy,
                                                               spawn_key=self._pattern_seed.spawn_key + key))
            mean, std = self.noise.threshold_pattern
            self._patterns[key] = [rng.normal(mean, std, size=n) if std or mean else np.zeros(n)
                                   for n in net.sizes[1:]]
        thresholds = []
        for pattern, n in zip(self._patterns[key], net.sizes[1:]):
            theta = np.broadcast_to(net.model.theta + pattern, (batch, n)).copy()
            if self.noise.threshold_batch:
                theta += self._trials.normal(0.0, self.noise.threshold_batch, size=n)
            if self.noise.threshold_trial:
                theta += self._trials.normal(0.0, self.noise.threshold_trial, size=(batch, n))
            thresholds.append(theta)
        return thresholds

    @property
    def state(self):
        """The state of the per-run streams (JSON-serialisable), for checkpoints."""
        return dict(trials=self._trials.bit_generator.state, simulator=self._simulator.bit_generator.state)

    @state.setter
    def state(self, value):
        self._trials.bit_generator.state = value["trials"]
        self._simulator.bit_generator.state = value["simulator"]

    def simulator_seed(self):
        """A seed for a simulator's own random numbers (e.g. Brian2's ``xi``), drawn per run."""
        return int(self._simulator.integers(2 ** 31 - 1))

    def shift_spikes(self, times):
        """``times`` (seconds, any shape; ``inf`` stays ``inf``) shifted by the spike jitter, or unchanged."""
        if not self.noise.spike_jitter:
            return times
        return times + self._trials.normal(0.0, self.noise.spike_jitter, size=np.shape(times))

    def jitter(self, shape):
        """Delay jitter in seconds for arrivals of ``shape`` (batch, n_pre, n_post), or ``None``."""
        if not self.noise.delay_jitter:
            return None
        return self._trials.normal(0.0, self.noise.delay_jitter, size=shape)


#: Samples per forward pass or training step, declared once for the Trainer, the substrates and model files.
BATCH_SIZE = Setting("batch_size", "integer", low=1, doc="samples per forward pass")


def check_batch_size(batch_size, name="batch_size"):
    """``batch_size`` (a positive integer, :data:`BATCH_SIZE`, or ``None``: a whole run), checked."""
    return None if batch_size is None else BATCH_SIZE.check(batch_size, name)


def forward_passes(count, batch_size):
    """``(start, size)`` of the forward passes that run ``count`` samples, ``batch_size`` at a time (``None``: one).

    Examples
    --------
    >>> list(forward_passes(5, 2))
    [(0, 2), (2, 2), (4, 1)]
    """
    size = count if batch_size is None else batch_size
    return [(start, min(size, count - start)) for start in range(0, count, max(size, 1))]
