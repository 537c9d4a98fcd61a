"""One builder of Brian2 objects for a DelayNetwork, used by the batched substrate and by :func:`~brian2_delgrad.to_brian2`.

:func:`build` makes the objects for ``copies`` block-diagonal copies of a
network (one copy per sample: neuron ``k`` of a layer of ``n`` neurons in
copy ``s`` has index ``s * n + k``); :func:`parameter_values` gives every
Brian2 variable its value for a run; :func:`assign` sets them. The objects,
by name (the same in every build, so that Brian2's code cache serves every
build of a network shape):

==============  ===========================================================
``inputs``      ``NeuronGroup``: each neuron fires once, in the step that
                contains its ``t_in`` (``inf``: never), like a
                ``SpikeGeneratorGroup``; ``d_axon`` of the first layer
``neurons_k``   ``NeuronGroup`` of layer ``k`` (1, 2, ...): the model's
                equations (``v``, ``I``), per-neuron ``theta``, the first
                spike only (``fired``), its time ``t_spike``; ``d_dend`` of
                its inputs, ``d_axon`` of its outputs
``synapses_k``  ``Synapses`` into layer ``k``, only the existing ones:
                ``w``, ``d_syn``, ``jitter``; ``delay`` is the sum of the
                placements' variables (``d_axon_pre + d_dend_post + d_syn``)
``spikes_k``    ``SpikeMonitor`` of layer ``k`` recording ``t_spike``
==============  ===========================================================

With ``timing='precise'`` the groups also carry the variables of
:mod:`~brian2_delgrad.brian2_io.precise` (exact arrivals and crossings
between grid points); with ``'grid'`` they are plain clock-driven Brian2.
"""
import os
from dataclasses import dataclass

import numpy as np

from ..core.delays import PLACEMENTS
from ..utils.notices import announce_once
from ..utils.settings import Setting
from .precise import NEVER, VARIABLES, arrival_code, crossing_code, free_solution, schedule, threshold_code

__all__ = ["Brian2Objects", "build", "parameter_values", "assign", "simulated_time", "check_time_step", "DT", "TIMING"]

#: The time step, declared once for Brian2Substrate and to_brian2 (``None``: 10 us).
DT = Setting("dt", "time", low=0, low_open=True, optional=True, doc="time step (default 10 us)", default=None)
#: Spike timing, declared once for Brian2Substrate and to_brian2.
TIMING = Setting("timing", "choice", choices=("precise", "grid"), default="precise",
                 doc="'precise': exact arrivals and crossings between grid points; 'grid': plain clock-driven")


@dataclass
class Layer:
    """The Brian2 objects of one layer: its group, the synapses into it, its spike monitor."""

    group: object
    synapses: object
    monitor: object


@dataclass
class Brian2Objects:
    """What :func:`build` made.

    Attributes
    ----------
    network : brian2.Network
        All objects below.
    clock : brian2.Clock
    inputs : brian2.NeuronGroup
    layers : list of Layer
    copies : int
    delay : str
        The Brian2 expression of every synapse's ``delay``.
    """

    network: object
    clock: object
    inputs: object
    layers: list
    copies: int
    delay: str


def build(net, copies, dt, timing="precise", membrane_noise=0.0):
    """Brian2 objects for ``copies`` copies of ``net``'s shape, model and connectivity (no parameter values yet).

    Parameters
    ----------
    net : DelayNetwork
    copies : int
    dt : float
        Time step in seconds.
    timing : {'precise', 'grid'}
    membrane_noise : float
        Standard deviation of the membrane noise in units of ``v`` (0: none).

    Returns
    -------
    Brian2Objects

    Raises
    ------
    ValueError
        If ``dt`` is more than a tenth of the shortest time constant.
    """
    import brian2 as b2

    check_time_step(net, dt)
    _announce_code_build()                           # before Brian2 creates its cache folder
    clock = b2.Clock(dt=dt * b2.second, name="clock")
    # theta becomes a per-neuron variable (threshold noise), so it leaves the namespace.
    namespace = {k: v for k, v in net.model.namespace.items() if k != "theta"}
    namespace["sigma_membrane"] = membrane_noise
    inputs = b2.NeuronGroup(copies * net.sizes[0], "t_in : second (constant)\nfired : boolean\n"
                            + _delay_variables("pre") + "t_spike = t_in : second",
                            threshold="t_in < t + dt and not fired", reset="fired = True", clock=clock,
                            name="inputs")
    precise = timing == "precise"
    equations = net.model.equations + b2.Equations(
        "theta : 1 (constant)\nfired : boolean\n" + _delay_variables("pre") + _delay_variables("post")
        + (VARIABLES if precise else "t_spike : second"))
    layers, events = [], []
    source = inputs
    for k, ((n_pre, n_post), mask) in enumerate(zip(net.layer_shapes, net.connectivity), start=1):
        group = b2.NeuronGroup(copies * n_post, equations,
                               threshold=threshold_code(net.model) if precise else
                               f"{net.model.threshold} and not fired",
                               reset=(crossing_code(net.model, membrane_noise=bool(membrane_noise))
                                      if precise else "t_spike = t\nfired = True"),
                               method=_state_update(net.model, membrane_noise), namespace=namespace, clock=clock,
                               name=f"neurons_{k}")
        synapses = b2.Synapses(source, group, "w : 1 (constant)\n" + _delay_variables("synapses")
                               + "jitter : second (constant)",
                               on_pre=arrival_code(net.model, exact_delay()) if precise else "I_post += w",
                               namespace=namespace, clock=clock, name=f"synapses_{k}")
        pre, post = np.nonzero(mask)                 # the existing synapses of one copy, in row-major order
        copy = np.arange(copies)[:, None]
        if pre.size:
            synapses.connect(i=(copy * n_pre + pre).ravel(), j=(copy * n_post + post).ravel())
        else:                                        # a layer without any synapse: nothing to deliver
            synapses.active = False
        if precise:
            group.t_e = NEVER * b2.second
            events.append((group, synapses))
        layers.append(Layer(group, synapses, b2.SpikeMonitor(group, variables=["t_spike"], when="end",
                                                             name=f"spikes_{k}")))
        source = group
    if precise:
        schedule(inputs, events)
    network = b2.Network(inputs, *[obj for layer in layers for obj in (layer.group, layer.synapses, layer.monitor)])
    return Brian2Objects(network, clock, inputs, layers, copies,
                         f"floor(({exact_delay()})/dt)*dt" if precise else exact_delay())


def _announce_code_build():
    """Say that Brian2 will compile for a while: cython's first build on a machine (an empty cache), or a
    cpp_standalone project (every build). Brian2's own runs of these objects are what take the time."""
    import brian2 as b2

    if b2.get_device().__class__.__name__ == "CPPStandaloneDevice":
        announce_once("cpp_standalone", "Brian2 builds a cpp_standalone project (about 15 s)")
        return
    if b2.prefs.codegen.target not in ("auto", "cython"):
        return
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    cache = get_cython_cache_dir()
    if cache is None or not os.path.isdir(cache) or not os.listdir(cache):
        announce_once("cython", f"Brian2 compiles its cython code the first time on this machine (1-2 minutes; "
                                f"cached in {cache} for later runs)")


def check_time_step(net, dt):
    """Raise a ``ValueError`` unless ``dt`` (seconds) is at most a tenth of the network's shortest time constant."""
    shortest = min(net.model.tau_m_, net.model.tau_s_)
    if dt > shortest / 10:
        raise ValueError(f"dt = {dt:g} s is too coarse for the network's time constants (shortest "
                         f"{shortest:g} s): use dt <= {shortest / 10:g} s")


def parameter_values(objects, net, input_times, thresholds, jitters):
    """The value of every Brian2 variable for one run, ``{(object, variable name): value}``.

    Parameters
    ----------
    objects : Brian2Objects
    net : DelayNetwork
    input_times : ndarray, shape (copies, n_in)
        Seconds, ``inf`` = no spike.
    thresholds : list of ndarray
        ``(copies, n)`` per layer.
    jitters : list of (ndarray or None)
        Delay jitter in seconds, ``(copies, n_pre, n_post)`` per connection layer, or ``None``.
    """
    import brian2 as b2

    copies = objects.copies
    values = {(objects.inputs, "t_in"): input_times.ravel() * b2.second}
    groups = [objects.inputs] + [layer.group for layer in objects.layers]
    for k, (layer, mask) in enumerate(zip(objects.layers, net.connectivity)):
        n_pre, n_post = net.layer_shapes[k]
        delays = net.neuron_delays(k)
        values[layer.group, "theta"] = thresholds[k].ravel()
        if mask.any():                               # (Brian2 has no synaptic variables without synapses)
            jitter = np.zeros((copies, int(mask.sum()))) if jitters[k] is None else jitters[k][:, mask]
            values[layer.synapses, "jitter"] = jitter.ravel() * b2.second
            values[layer.synapses, "w"] = np.tile(net.weights[k][mask], copies)
        owners = dict(pre=groups[k], post=layer.group, synapses=layer.synapses if mask.any() else None)
        for name, p in PLACEMENTS.items():             # a placement the network lacks is 0
            if owners[p.site] is not None:
                value = delays.get(name, np.zeros(p.shape(n_pre, n_post)))
                value = value[mask] if p.site == "synapses" else value
                values[owners[p.site], p.variable] = np.tile(value, copies) * b2.second
    return values


def assign(objects, values):
    """Set the values of :func:`parameter_values` and every synapse's ``delay`` (runtime devices)."""
    for (owner, name), value in values.items():
        setattr(owner, name, value)
    set_delays(objects)


def set_delays(objects):
    """Set every synapse's ``delay`` from the delays of its placements.

    Their sum, jittered and never negative; with precise timing rounded down to the grid (the exact
    value is in the ``on_pre`` code).
    """
    for layer in objects.layers:
        if len(layer.synapses):
            layer.synapses.delay = objects.delay


def simulated_time(net, input_times, dt, window=3.0):
    """Time to simulate (seconds): the latest input plus, per layer, the largest delay and ``window`` tau_m.

    A crossing after the last input happens before the membrane's peak, within about 1.5 ``tau_m``.
    """
    finite = input_times[np.isfinite(input_times)]
    latest = finite.max() if finite.size else 0.0
    return latest + sum(net.total_delays(k)[mask].max(initial=0.0) + window * net.model.tau_m_
                        for k, mask in enumerate(net.connectivity)) + 2 * dt


def exact_delay():
    """A synapse's delay in Brian2 code: the sum of every placement's variable and the jitter, never negative."""
    return f"clip({' + '.join(p.brian2_name for p in PLACEMENTS.values())} + jitter, 0*second, inf*second)"


def _delay_variables(site):
    """Brian2 declarations of the delay variables that live at ``site`` (``'pre'``, ``'post'``, ``'synapses'``)."""
    return "".join(f"{p.variable} : second (constant)\n" for p in PLACEMENTS.values() if p.site == site)


def _state_update(model, membrane_noise):
    """Integration of one step: Brian2's exact solution, or with membrane noise a kick, then the free solution.

    The kick, ``sigma*sqrt(exp(2 dt/tau_m) - 1)*randn()`` added to ``v`` at the
    start of every step, makes ``v`` on the grid exactly the model with an
    Ornstein-Uhlenbeck term (stationary standard deviation ``sigma``,
    correlation time ``tau_m``); between kicks the membrane follows the free
    solution exactly, so precise timing finds crossings to rounding within a
    step (Brian2's stochastic methods integrate the drift by Euler steps).
    """
    if not membrane_noise:
        return "exact"
    tau_m = "tau" if "tau" in model.namespace else "tau_m"
    v_next, i_next = free_solution(model, f"v + sigma_membrane*sqrt(exp(2*dt/{tau_m}) - 1)*randn()", "I", "dt")
    code = f"_v = {v_next}\n_I = {i_next}\nv = _v\nI = _I"

    def kick_then_free(equations, variables=None, method_options=None):
        return code

    return kick_then_free
