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
import math

from brian2 import Equations, ms, second

from ..utils.settings import Setting, check_settings, takes_settings

__all__ = ["LIFModel", "lif_time_constants"]

#: Points (v, I) where right-hand sides must equal a linear model: a few plain ones and generic ones, on which no
#: other expression of a model file's grammar agrees with the linear model by chance.
PROBES = ((1.0, 0.0), (0.0, 1.0), (0.7, -1.3), (math.pi / 3, -math.e / 5), (-math.sqrt(2), math.log(3)),
          (math.sqrt(7) / 3, math.sqrt(5)), (-0.1 * math.pi, -math.sqrt(3)))


def lif_time_constants(rate_v, rate_i, shown_v, shown_i):
    """``(tau_m, tau_s)`` of the equations ``dv/dt = rate_v(v, I)``, ``dI/dt = rate_i(v, I)``, if they are the LIF
    model with exponential current synapses: the one check of a user's Brian2 network and of a model file.

    The right-hand sides must be linear in ``v`` and ``I`` without a constant term (compared with the linear
    function of their coefficients at :data:`PROBES`), ``dI/dt = -I/tau_s`` and ``dv/dt = -v/tau_m + I/tau_s``
    with positive time constants and the same ``tau_s``.

    Parameters
    ----------
    rate_v, rate_i : callable
        ``(v, I) -> float``, 1/s; raising ``ArithmeticError`` or ``ValueError`` where undefined.
    shown_v, shown_i : str
        The right-hand sides as written, for messages.

    Returns
    -------
    tuple of float
        ``tau_m`` and ``tau_s`` in seconds.

    Raises
    ------
    ValueError
        Naming the equation and what it is not.

    Examples
    --------
    >>> lif_time_constants(lambda v, I: -v / 0.01 + I / 0.005, lambda v, I: -I / 0.005, "", "")
    (0.01, 0.005)
    """
    di = _coefficients(rate_i, f"dI/dt = {shown_i}")
    if di[0] != 0 or not di[1] < 0:
        raise ValueError(f"dI/dt = {shown_i} is not -I/tau_s with tau_s > 0")
    tau_s = -1.0 / di[1]
    dv = _coefficients(rate_v, f"dv/dt = {shown_v}")
    if not dv[0] < 0 or not math.isclose(dv[1], 1.0 / tau_s, rel_tol=1e-9):
        raise ValueError(f"dv/dt = {shown_v} is not -v/tau_m + I/tau_s with tau_m > 0 and the tau_s of dI/dt "
                         f"({tau_s:g} s)")
    return -1.0 / dv[0], tau_s


def _coefficients(rate, shown):
    """``(coefficient of v, coefficient of I)`` of a right-hand side that is linear without a constant term."""
    try:
        constant, a_v, a_i = rate(0.0, 0.0), rate(1.0, 0.0), rate(0.0, 1.0)
        linear = constant == 0 and all(math.isfinite(a) for a in (a_v, a_i)) and all(
            abs(value - (a_v * v + a_i * i)) <= 1e-12 * max(abs(a_v * v) + abs(a_i * i), abs(value))
            for v, i, value in ((v, i, rate(v, i)) for v, i in PROBES))
    except (ArithmeticError, ValueError, TypeError):
        linear = False
    if not linear:
        raise ValueError(f"{shown} is not linear in v and I without a constant term (the LIF model with "
                         "exponential current synapses)")
    return a_v, a_i


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
