"""Brian2 code for precise spike timing: exact arrivals and crossings between the grid points.

A clock-driven simulation applies a spike at the end of a time step and
detects a threshold crossing at the end of a step, so every arrival and
every spike time is off by a fraction of ``dt``; a neuron that crosses
threshold slowly (grazing) turns that into errors of many ``dt``. The model
is linear between events, so both can be undone exactly (Morrison et al.
2007, Neural Comput. 19:47; Hanuschkin et al. 2010, Front. Neuroinform. 4:113):

* order of events: within a step, layer by layer, first the inputs that
  arrived by the end ``t + dt`` of the step are added, then the threshold
  is tested, then the spikes found are sent on (see :func:`schedule`); the
  Brian2 ``delay`` of a synapse is its exact delay rounded down to the grid,
  so an input is delivered in the step it arrives in or in the step before;
* arrival: an input that arrived by ``t + dt`` adds what it would have done
  since its exact arrival -- ``I += w exp(-lag/tau_s)`` and ``v += w K(lag)``
  with the PSP kernel ``K`` and ``lag = t + dt - arrival``; one delivered a
  step early (it arrives after this step's threshold test) waits in
  ``v_pend``, ``I_pend`` and is added before the next step's test;
* crossing: before an input is added, the free membrane (backwards from the
  state at ``t + dt``) is checked at the input's arrival: if it is above
  threshold there, the neuron crossed before the input arrived, whatever
  the input does after (an inhibitory one may pull it back below threshold
  by ``t + dt``); that state is kept (``crossed``, ``v_snap``, ``I_snap``,
  ``t_cross``) and the neuron fires in this step's test;
* crossing time: when a neuron fires, its membrane is propagated back in
  time with the model's free solution and the crossing found by safeguarded
  Newton iterations, before ``t_cross`` in the kept state or within the last
  ``_SEARCH_STEPS`` steps; the result is the neuron's ``t_spike``, which the
  ``SpikeMonitor`` records and the next synapses use.

What is left: two inputs to one neuron within the same step, near its
crossing, are checked in the order Brian2 delivers them, not in the order
they arrive (the later one's effect on the earlier one's check is of order
``w dt / tau_s`` in ``v``), and a crossing and return below threshold
within one step goes unseen.
"""

import logging
from contextlib import contextmanager

__all__ = ["VARIABLES", "arrival_code", "crossing_code", "order_notes_hidden", "pending_code", "schedule",
           "threshold_code"]

_SEARCH_STEPS = 5      # a detection is normally in the step of the crossing; more steps cost nothing
_ITERATIONS = 8        # Newton steps, each kept inside the bracket (bisection otherwise)

#: Per-neuron variables of the precise scheme (Brian2 equation lines).
VARIABLES = ("t_spike : second\nv_pend : 1\nI_pend : 1\nt_pend : second\npending : boolean\n"
             "crossed : boolean\nv_snap : 1\nI_snap : 1\nt_cross : second")


def _constants(model):
    """Names of ``tau_m`` and ``tau_s`` in the model's namespace (one ``tau`` when they are equal)."""
    return ("tau", "tau") if "tau" in model.namespace else ("tau_m", "tau_s")


def _free_solution(model, v, current, u):
    """Expressions for ``v`` and ``I`` a time ``u`` (may be negative) after the state ``(v, I)``, no inputs."""
    tau_m, tau_s = _constants(model)
    if tau_m == tau_s:
        return f"({v} + {current}*({u})/tau)*exp(-({u})/tau)", f"{current}*exp(-({u})/tau)"
    return (f"{v}*exp(-({u})/tau_m) + {current}*tau_m/(tau_m - tau_s)*(exp(-({u})/tau_m) - exp(-({u})/tau_s))",
            f"{current}*exp(-({u})/tau_s)")


def _crossed_before(model, suffix, arrival, condition):
    """Statements keeping the state if the free membrane is above threshold at ``arrival`` (before adding)."""
    v_then, _ = _free_solution(model, f"v{suffix}", f"I{suffix}", f"({arrival}) - (t + dt)")
    keep = "int(early)"
    return [
        f"early = {condition} and not fired{suffix} and not crossed{suffix} and {v_then} > theta{suffix}",
        f"t_cross{suffix} = {keep}*({arrival}) + (1 - {keep})*t_cross{suffix}",
        f"v_snap{suffix} = {keep}*v{suffix} + (1 - {keep})*v_snap{suffix}",
        f"I_snap{suffix} = {keep}*I{suffix} + (1 - {keep})*I_snap{suffix}",
        f"crossed{suffix} = crossed{suffix} or early",
    ]


def arrival_code(model, delay):
    """``on_pre`` statements of a synapse with weight ``w``: the input applied as if at its exact time.

    Parameters
    ----------
    model : LIFModel
    delay : str
        Expression of the synapse's exact delay (Brian2's ``delay`` is it
        rounded down to the grid).

    Returns
    -------
    str
        Brian2 abstract code; needs ``t_spike`` in the presynaptic group and
        :data:`VARIABLES` in the postsynaptic one.
    """
    v_now, i_now = _free_solution(model, "0", "w", "lag")
    v_next, i_next = _free_solution(model, "0", "w", "lag + dt")
    arrived = "int(arrived)"
    return "\n".join([
        f"lag = t + dt - (t_spike_pre + {delay})",
        "arrived = lag >= 0*second",
        *_crossed_before(model, "_post", "t + dt - lag", "arrived"),
        f"v_post += {arrived}*({v_now})",
        f"I_post += {arrived}*({i_now})",
        f"v_pend_post += (1 - {arrived})*({v_next})",
        f"I_pend_post += (1 - {arrived})*({i_next})",
        f"t_pend_post = clip({arrived}*(t + 2*dt) + (1 - {arrived})*(t + dt - lag), -inf*second, t_pend_post)",
        "pending_post = pending_post or not arrived",
    ])


def pending_code(model):
    """Statements adding the inputs delivered a step early, run before the step's deliveries.

    ``v_pend`` and ``I_pend`` hold their effect at ``t + dt``; ``t_pend`` is
    the earliest of their arrivals (and ``t + 2 dt``, after any arrival the
    next step delivers early, once they are added).
    """
    return "\n".join([
        *_crossed_before(model, "", "t_pend", "pending"),
        "v += v_pend", "I += I_pend", "v_pend = 0", "I_pend = 0", "pending = False", "t_pend = t + 2*dt",
    ])


def threshold_code(model):
    """Threshold condition: above threshold at ``t + dt``, or crossed before an input of this step; once."""
    return f"({model.threshold} or crossed) and not fired"


def crossing_code(model, membrane_noise=False):
    """``reset`` statements that set ``t_spike`` to the exact threshold crossing (and ``fired``).

    Parameters
    ----------
    model : LIFModel
    membrane_noise : bool
        The crossing is searched from ``_SEARCH_STEPS`` steps before the
        detection (with membrane noise, whose kicks the free solution does
        not know, from the start of the step) to the detection or to the
        arrival of the input that found the neuron above threshold. Where the
        free membrane is above threshold even at the start of that window,
        ``t_spike`` is that start.

    Returns
    -------
    str
        Brian2 abstract code run right after the threshold test, while
        ``v`` and ``I`` are the state at ``t + dt``; ``theta`` is the
        neuron's own (noisy) threshold.
    """
    tau_m, tau_s = _constants(model)
    v_at, i_at = _free_solution(model, "v_s", "I_s", "u")
    search_steps = 1 if membrane_noise else _SEARCH_STEPS
    lines = ["kept = int(crossed)",                    # the state before the input that arrived after the crossing
             "v_s = kept*v_snap + (1 - kept)*v", "I_s = kept*I_snap + (1 - kept)*I",
             "hi = kept*(t_cross - t - dt)", f"lo = hi*0 - {search_steps}*dt", "u = lo",
             f"bracketed = int({v_at} <= theta)", "u = hi"]
    for _ in range(_ITERATIONS):
        lines += [
            f"v_u = {v_at}",
            f"slope = -v_u/{tau_m} + ({i_at})/{tau_s}",
            "above = int(v_u > theta)",                          # the crossing is earlier than u
            "hi = above*u + (1 - above)*hi",
            "lo = above*lo + (1 - above)*u",
            "newton = u - (v_u - theta)/(slope + int(slope == 0/second)/second)",
            "inside = int(newton >= lo and newton <= hi and slope > 0/second)",
            "u = inside*newton + (1 - inside)*(lo + hi)/2",
        ]
    lines += ["u = bracketed*u + (1 - bracketed)*lo", "t_spike = t + dt + u", "fired = True"]
    return "\n".join(lines)


def schedule(inputs, layers):
    """Order the step's events layer by layer, all in Brian2's ``'thresholds'`` slot.

    Parameters
    ----------
    inputs : NeuronGroup
        The input layer (its threshold first).
    layers : list of (NeuronGroup, Synapses, CodeRunner)
        Per layer: the group, the synapses into it, and its
        :func:`pending_code` operation; in each step the pending inputs are
        added, then the synapses deliver, then the threshold is tested and
        the crossing found, before the next layer's turn.
    """
    inputs.thresholder["spike"].when, inputs.thresholder["spike"].order = "thresholds", 0
    for k, (group, synapses, pending) in enumerate(layers, start=1):
        events = [pending, synapses.pre, group.thresholder["spike"], group.resetter["spike"]]
        for order, event in enumerate(events, start=4 * k):
            event.when, event.order = "thresholds", order


class _OrderNotes(logging.Filter):
    """Drops Brian2's notes on code whose result depends on the order of delivery (and numpy's loop for it)."""

    _NOTES = ("Came across an abstract code block that may not be well-defined", "Failed to vectorise code")

    def filter(self, record):
        return not str(record.msg).startswith(self._NOTES)


@contextmanager
def order_notes_hidden():
    """Within: Brian2 does not warn that :func:`arrival_code` depends on the order of delivery.

    It does, by design: of two inputs that find the same neuron already
    above threshold at their arrival in one step, the first delivered keeps
    the state. Other messages pass.
    """
    notes = _OrderNotes()
    loggers = [logging.getLogger(f"brian2.codegen.generators.{name}") for name in ("base", "numpy_generator")]
    for logger in loggers:
        logger.addFilter(notes)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(notes)
