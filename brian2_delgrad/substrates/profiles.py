"""Hardware profiles: what a substrate imposes on the model (time constants, weight grid, noise, delays).

A profile is a description of a substrate, not of a network: a model file
names one (``profile = "brainscales2"``), the loader checks that the network
fits it, and training applies it in the forward pass -- weights on the
substrate's grid (float shadow weights take the gradient steps), the
substrate's noise -- while the backward pass stays the ideal model's exact
gradient at the recorded spike times, as in chip-in-the-loop training.
"""
from dataclasses import dataclass

import numpy as np

from ..utils.registry import Registry
from .noise import Noise

__all__ = ["HardwareProfile", "PROFILES", "get_profile", "register_profile"]


@dataclass(frozen=True)
class HardwareProfile:
    """Constraints and noise of a substrate, in model units.

    Parameters
    ----------
    name : str
        The name model files give as ``profile``.
    tau_ratio : float or None
        Required ``tau_m / tau_s`` (``None``: any).
    theta : float or None
        Required threshold (``None``: any).
    weight_step : float or None
        Weights (dimensionless) are rounded to multiples of this in the forward pass.
    weight_limit : float or None
        Weights are clipped to ``[-weight_limit, weight_limit]`` after every step.
    threshold_pattern : tuple of float
        ``(mean, std)`` of the per-neuron threshold offset drawn once, units of ``v``.
    threshold_trial : float
        Std of the threshold offset redrawn per neuron and sample, units of ``v``.
    threshold_batch : float
        Std of the threshold offset drawn per neuron once per forward pass and
        shared by the batch (batch-to-batch noise), units of ``v``.
    delay_jitter : float
        Std of the jitter of every delayed spike, in units of ``tau_s``.
    placements : tuple of str or None
        Delay placements the substrate has (``None``: all).
    delay_range : tuple of float or None
        ``(low, high)`` the trained delays must stay within, in units of ``tau_s``.
    input_replicas : int
        Each input is fed through this many channels (1: no replication);
        the copies of an input share their delays (``delay_groups``).
    """

    name: str
    tau_ratio: float = None
    theta: float = None
    weight_step: float = None
    weight_limit: float = None
    threshold_pattern: tuple = (0.0, 0.0)
    threshold_trial: float = 0.0
    threshold_batch: float = 0.0
    delay_jitter: float = 0.0
    placements: tuple = None
    delay_range: tuple = None
    input_replicas: int = 1

    def noise(self, tau_s):
        """The substrate's noise under this profile.

        Parameters
        ----------
        tau_s : float
            Synaptic time constant of the model, seconds (the delay jitter is
            given in units of it).

        Returns
        -------
        Noise
            Threshold noise in units of ``v``, delay jitter in seconds.
        """
        return Noise(threshold_pattern=self.threshold_pattern, threshold_trial=self.threshold_trial,
                     threshold_batch=self.threshold_batch, delay_jitter=self.delay_jitter * float(tau_s))

    @property
    def trainer_settings(self):
        """The :class:`~brian2_delgrad.training.trainer.Trainer` arguments that apply the weight grid."""
        return dict(weight_step=self.weight_step, weight_limit=self.weight_limit)

    def problems(self, tau_m, tau_s, theta, placements, delay_range, n_inputs, n_features, delay_groups=None):
        """What does not fit this profile, as ``(field, message)`` pairs (empty if everything fits).

        Parameters
        ----------
        tau_m, tau_s : float
            Seconds.
        theta : float
            Threshold, in units of ``v``.
        placements : list of tuple of str
            Per connection layer, as :func:`~brian2_delgrad.core.delays.parse_placements` returns them.
        delay_range : tuple of float
            Seconds.
        n_inputs : int
            Size of the input layer.
        n_features : int
            Features per sample before replication.
        delay_groups : list, optional
            Per connection layer, as :func:`~brian2_delgrad.core.delays.delay_groups` returns them (default untied).

        Returns
        -------
        list of (str, str)
            ``(field, message)`` pairs; empty if everything fits.
        """
        found = []
        if self.tau_ratio is not None and not np.isclose(tau_m / tau_s, self.tau_ratio, rtol=1e-9):
            found.append(("tau_m", f"profile {self.name!r} needs tau_m = {self.tau_ratio:g} tau_s"))
        if self.theta is not None and not np.isclose(theta, self.theta, rtol=1e-9):
            found.append(("theta", f"profile {self.name!r} needs theta = {self.theta:g}"))
        used = sorted({p for layer in placements for p in layer})
        if self.placements is not None and set(used) - set(self.placements):
            allowed = ", ".join(self.placements) or "none"
            found.append(("delays", f"profile {self.name!r} has no {', '.join(sorted(set(used) - set(self.placements)))} "
                                    f"delays (it offers: {allowed})"))
        if self.delay_range is not None and used:
            low, high = (v * tau_s for v in self.delay_range)
            if not (low - 1e-12 <= delay_range[0] and delay_range[1] <= high + 1e-12):
                found.append(("delay_range", f"profile {self.name!r} trains delays within "
                                             f"({self.delay_range[0]:g}, {self.delay_range[1]:g}) tau_s = "
                                             f"({low * 1e3:g}, {high * 1e3:g}) ms"))
        if n_inputs != n_features * self.input_replicas:
            found.append(("sizes", f"profile {self.name!r} feeds each of the {n_features} features through "
                                   f"{self.input_replicas} channel(s): the input layer needs "
                                   f"{n_features * self.input_replicas} neurons, not {n_inputs}"))
        if self.input_replicas > 1 and placements and placements[0] and n_inputs == n_features * self.input_replicas:
            groups = (delay_groups or [None])[0]
            copies = np.arange(n_inputs) // self.input_replicas
            if groups is None or len({*zip(groups, copies)}) != len(set(groups)) or len(set(groups)) != n_features:
                layers = ", ".join(["1"] * (len(placements) - 1))
                found.append(("delay_groups", f"profile {self.name!r} gives the {self.input_replicas} copies of an "
                                              f"input one shared delay: use delay_groups = "
                                              f"[{self.input_replicas}{', ' + layers if layers else ''}]"))
        return found


#: Profiles by the names model files use (``profile = "brainscales2"``).
PROFILES = Registry("profile", HardwareProfile)
PROFILES.add(HardwareProfile("ideal"))
PROFILES.add(HardwareProfile(
    "brainscales2", tau_ratio=1.0, theta=2.6, weight_step=1 / 30, weight_limit=2.1,
    threshold_pattern=(0.13, 0.08), threshold_batch=0.04, delay_jitter=0.01, placements=("axonal",),
    delay_range=(2.0, 3.5), input_replicas=5))


def register_profile(profile, replace=False):
    """Make a :class:`HardwareProfile` available to model files by its name.

    Parameters
    ----------
    profile : HardwareProfile
        Registered as ``profile.name``.
    replace : bool
        Replace a profile registered under that name (otherwise that is an error).
    """
    PROFILES.add(profile, replace)


def get_profile(name):
    """The :class:`HardwareProfile` called ``name`` (one of ``PROFILES``).

    Parameters
    ----------
    name : str
        ``'ideal'``, ``'brainscales2'`` or a name given to :func:`register_profile`.

    Returns
    -------
    HardwareProfile

    Raises
    ------
    ValueError
        For a name not in ``PROFILES``; the message lists them.

    Examples
    --------
    >>> get_profile("brainscales2").trainer_settings
    {'weight_step': 0.03333333333333333, 'weight_limit': 2.1}
    """
    return PROFILES.get_entry(name)
