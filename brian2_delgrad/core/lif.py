"""The neuron model: leaky integrate-and-fire with exponential current synapses.

The model is written as Brian2 equations in physical time with a dimensionless
membrane ``v`` and current ``I``; this is the form in which the published
weights and thresholds live::

    dv/dt = -v/tau_m + I/tau_s : 1
    dI/dt = -I/tau_s : 1

A presynaptic spike arriving at a synapse of weight ``w`` does ``I += w``; the
neuron spikes when ``v`` crosses ``theta`` from below and emits at most one
spike per sample (time-to-first-spike coding).
"""
from brian2 import Equations, ms, second

from ..utils.settings import Setting, check_settings, takes_settings

__all__ = ["LIFModel"]


class LIFModel:
    """Leaky integrate-and-fire neuron with exponentially decaying current synapses.

    Parameters
    ----------
    tau_m : Quantity or float
        Membrane time constant (a Brian2 time, e.g. ``10*ms``; a float is taken as seconds).
    tau_s : Quantity or float
        Synaptic time constant (a Brian2 time, e.g. ``5*ms``; a float is taken as seconds).
    theta : float
        Firing threshold of the dimensionless membrane ``v`` (rest and reset are 0).

    Raises
    ------
    ValueError
        If a time constant is not a finite positive time or ``theta`` is not a
        finite positive number; the message names the field.

    Examples
    --------
    >>> from brian2 import ms
    >>> model = LIFModel(tau_m=10*ms, tau_s=5*ms, theta=1.0)
    >>> model.ratio
    2.0
    >>> print(model.equations)
    dI/dt = -I/tau_s : 1
    dv/dt = -v/tau_m + I/tau_s : 1
    """

    threshold = "v > theta"
    on_pre = "I += w"

    #: The settings, declared once for the constructor and model files (``[neuron]``).
    SETTINGS = (Setting("tau_m", "time", low=0, low_open=True, doc="membrane time constant", default=10 * ms),
                Setting("tau_s", "time", low=0, low_open=True, doc="synaptic time constant", default=5 * ms),
                Setting("theta", "number", low=0, low_open=True, unit="v", doc="firing threshold", default=1.0))

    @takes_settings(SETTINGS)
    def __init__(self, tau_m=..., tau_s=..., theta=...):
        values = check_settings(self.SETTINGS, locals())
        self._tau_m, self._tau_s, self._theta = values["tau_m"], values["tau_s"], values["theta"]
        self._equations = None

    @property
    def theta(self):
        """Firing threshold (float)."""
        return self._theta

    @property
    def tau_m(self):
        """Membrane time constant (Quantity)."""
        return self._tau_m * second

    @property
    def tau_m_(self):
        """Membrane time constant in seconds (float), as Brian2 writes a value without units (``v_``)."""
        return self._tau_m

    @property
    def tau_s(self):
        """Synaptic time constant (Quantity)."""
        return self._tau_s * second

    @property
    def tau_s_(self):
        """Synaptic time constant in seconds (float)."""
        return self._tau_s

    @property
    def ratio(self):
        """``tau_m / tau_s`` (float); 1 and 2 have closed-form spike times."""
        return self._tau_m / self._tau_s

    @property
    def equations(self):
        """The model's Brian2 :class:`~brian2.equations.equations.Equations`.

        With ``tau_m == tau_s`` the equations use a single symbol ``tau``:
        Brian2's exact integrator divides by ``tau_m - tau_s`` otherwise.
        """
        if self._equations is None:
            if self._tau_m == self._tau_s:
                self._equations = Equations("dv/dt = (I - v)/tau : 1\ndI/dt = -I/tau : 1")
            else:
                self._equations = Equations("dv/dt = -v/tau_m + I/tau_s : 1\ndI/dt = -I/tau_s : 1")
        return self._equations

    @property
    def namespace(self):
        """Values of the constants that the equations and threshold refer to (dict)."""
        if self._tau_m == self._tau_s:
            return {"tau": self.tau_s, "theta": self.theta}
        return {"tau_m": self.tau_m, "tau_s": self.tau_s, "theta": self.theta}

    def __eq__(self, other):
        return isinstance(other, LIFModel) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self._tau_m, self._tau_s, self._theta)

    def __repr__(self):
        return f"LIFModel(tau_m={self.tau_m!r}, tau_s={self.tau_s!r}, theta={self.theta!r})"
