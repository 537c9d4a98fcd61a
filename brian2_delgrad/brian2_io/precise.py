"""Brian2 code for precise spike timing: exact arrivals and crossings between the grid points.

A clock-driven simulation applies a spike at the end of a time step and
detects a threshold crossing at the end of a step, so every arrival and
every spike time is off by a fraction of ``dt``; a neuron that crosses
threshold slowly (grazing) turns that into errors of many ``dt``. The model
is linear between events, so both can be undone exactly (Morrison et al.
2007, Neural Comput. 19:47; Hanuschkin et al. 2010, Front. Neuroinform. 4:113).
``v`` and ``I`` are the state at the end ``t + dt`` of the step, where the
threshold is tested:

* order of events: within a step, layer by layer, the synapses deliver,
  then the threshold is tested and the crossing found, then the spikes are
  sent on (:func:`schedule`). The Brian2 ``delay`` of a synapse is its exact
  delay rounded down to the grid, so an input is delivered in the step it
  arrives in or, "early", in the step before;
* arrival: each input adds what it would have done since its exact arrival
  (``lag = t + dt - arrival``): ``I += w exp(-lag/tau_s)``, ``v += w K(lag)``
  with the PSP kernel ``K``; for an early input (``lag < 0``) that is the
  kernel continued to before its arrival, exact from the arrival on. The
  early inputs of the latest step are also kept apart (``v_e``, ``I_e`` at
  that step's ``t + dt``, their step ``t_e`` and earliest arrival ``a_e``),
  so that this step's threshold test leaves them out;
* crossing before an arrival: the free membrane without the input
  (backwards from ``t + dt``) is checked at the input's arrival -- for an
  early input in the next step, when it has arrived. If it is above
  threshold there, the neuron crossed before the input arrived, whatever the
  input does after (an inhibitory one may pull it back below threshold by
  ``t + dt``); that state is kept (``crossed``, ``v_snap``, ``I_snap``,
  ``t_cross``) and the neuron fires in this step's test;
* crossing time: when a neuron fires, its membrane is propagated back in
  time with the model's free solution and the crossing found by safeguarded
  Newton iterations, before ``t_cross`` in the kept state or within the last
  ``_SEARCH_STEPS`` steps; the result is the neuron's ``t_spike``, which the
  ``SpikeMonitor`` records and the next synapses use.

Nothing is added to the work of a time step but a longer threshold
condition; the rest happens per input and per spike. What is left:

* two inputs to one neuron inside the step of its crossing are checked in
  the order Brian2 delivers them, not in the order they arrive, and the
  early inputs of one step are checked together at the earliest of their
  arrivals; an inhibitory input delivered first then shows in the other's
  check as its kernel continued to before its arrival. The spike can come
  out up to about a step off, or (rarely, with a strong inhibitory input)
  appear where the exact model has none;
* a crossing that returns below threshold within one step goes unseen;
* with membrane noise, which comes as a kick at the start of every step
  (exact for an Ornstein-Uhlenbeck membrane on the grid), the crossing is
  searched within the step of detection only, where the free solution
  holds; a crossing and return below threshold within the earlier steps
  goes unseen as without noise.
"""

import logging
from contextlib import contextmanager

__all__ = ["NEVER", "VARIABLES", "arrival_code", "crossing_code", "free_solution", "order_notes_hidden",
           "schedule", "threshold_code"]

_SEARCH_STEPS = 5      # a detection is normally in the step of the crossing; more steps cost nothing
_ITERATIONS = 8        # Newton steps, each kept inside the bracket (bisection otherwise)

#: Per-neuron variables of the precise scheme (Brian2 equation lines).
VARIABLES = ("t_spike : second\ncrossed : boolean\nv_snap : 1\nI_snap : 1\nt_cross : second\n"
             "v_e : 1\nI_e : 1\nt_e : second\na_e : second")
#: Initial ``t_e`` (seconds): no early inputs yet.
NEVER = -1e9


def _constants(model):
    """Names of ``tau_m`` and ``tau_s`` in the model's namespace (one ``tau`` when they are equal)."""
    return ("tau", "tau") if "tau" in model.namespace else ("tau_m", "tau_s")


def free_solution(model, v, current, u):
    """Expressions for ``v`` and ``I`` a time ``u`` (may be negative) after the state ``(v, I)``, no inputs.

    Each of ``v``, ``current`` and ``u`` appears once in the ``v`` expression.
    """
    tau_m, tau_s = _constants(model)
    if tau_m == tau_s:
        return f"({v} + ({current})*({u})/tau)*exp(-({u})/tau)", f"({current})*exp(-({u})/tau)"
    return (f"({v})*exp(-({u})/tau_m) + ({current})*tau_m/(tau_m - tau_s)*(exp(-({u})/tau_m) - exp(-({u})/tau_s))",
            f"({current})*exp(-({u})/tau_s)")


def _pending(s):
    """1 where ``v_e``, ``I_e`` hold early inputs delivered in this step (not arrived by ``t + dt``), else 0."""
    return f"int(t - t_e{s} < 0.5*dt)"


def _without_early(model, s, step):
    """State ``(v, I)`` at ``t + dt`` without the early inputs of this step (``step='this'``) or the last."""
    if step == "this":
        return f"v{s} - {_pending(s)}*v_e{s}", f"I{s} - {_pending(s)}*I_e{s}"
    v_e, i_e = free_solution(model, f"v_e{s}", f"I_e{s}", "dt")
    return f"v{s} - ({v_e})", f"I{s} - ({i_e})"


def _above_before(model, s, state, arrival):
    """Condition: not yet fired, and the free membrane from ``state`` is above threshold at ``arrival``."""
    v_then, _ = free_solution(model, *state, f"({arrival}) - (t + dt)")
    return f"not fired{s} and not crossed{s} and {v_then} > theta{s}"


def _last_steps_early_inputs_came_late(model, s=""):
    """Condition: the neuron was above threshold when the early inputs of the last step arrived."""
    return (f"abs(t - dt - t_e{s}) < 0.5*dt and "
            + _above_before(model, s, _without_early(model, s, "last"), f"a_e{s}"))


def _keep(s, mask, state, arrival):
    """Statements keeping ``state`` and ``arrival`` where the integer ``mask`` is 1."""
    return [
        f"v_snap{s} = {mask}*({state[0]}) + (1 - {mask})*v_snap{s}",
        f"I_snap{s} = {mask}*({state[1]}) + (1 - {mask})*I_snap{s}",
        f"t_cross{s} = {mask}*({arrival}) + (1 - {mask})*t_cross{s}",
        f"crossed{s} = crossed{s} or {mask} == 1",
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
    s = "_post"
    v_in, i_in = free_solution(model, "0", "w", "lag")
    arrival = "t + dt - lag"
    last = _without_early(model, s, "last")
    this = _without_early(model, s, "this")
    return "\n".join([
        f"lag = t + dt - (t_spike_pre + {delay})",
        f"late = int({_last_steps_early_inputs_came_late(model, s)})",
        *_keep(s, "late", last, f"a_e{s}"),
        f"after = int(lag >= 0*second and {_above_before(model, s, this, arrival)})",
        *_keep(s, "after", this, arrival),
        f"v_in = {v_in}",
        f"I_in = {i_in}",
        f"v{s} += v_in",
        f"I{s} += I_in",
        "early = int(lag < 0*second)",
        f"pending = {_pending(s)}",
        f"v_e{s} = early*(pending*v_e{s} + v_in) + (1 - early)*v_e{s}",
        f"I_e{s} = early*(pending*I_e{s} + I_in) + (1 - early)*I_e{s}",
        f"a_e{s} = early*clip({arrival}, -inf*second, pending*a_e{s} + (1 - pending)*({arrival})) "
        f"+ (1 - early)*a_e{s}",
        f"t_e{s} = early*t + (1 - early)*t_e{s}",
    ])


def threshold_code(model):
    """Threshold: above threshold at ``t + dt`` without this step's early inputs, or crossed before an input."""
    v_now, _ = _without_early(model, "", "this")
    return f"not fired and ({v_now} > theta or crossed or {_last_steps_early_inputs_came_late(model)})"


def crossing_code(model, membrane_noise=False):
    """``reset`` statements that set ``t_spike`` to the exact threshold crossing (and ``fired``).

    Parameters
    ----------
    model : LIFModel
    membrane_noise : bool
        The crossing is searched from ``_SEARCH_STEPS`` steps before the
        detection (with membrane noise, which kicks ``v`` at the start of
        every step, from the start of the step) to the detection or to the
        arrival of the input that found the neuron above threshold. Where the
        free membrane is above threshold even at the start of that window,
        ``t_spike`` is that start.

    Returns
    -------
    str
        Brian2 abstract code run right after the threshold test; ``theta``
        is the neuron's own (noisy) threshold.
    """
    tau_m, tau_s = _constants(model)
    v_at, i_at = free_solution(model, "v_s", "I_s", "u")
    search_steps = 1 if membrane_noise else _SEARCH_STEPS
    last, this = _without_early(model, "", "last"), _without_early(model, "", "this")
    lines = [f"late = int({_last_steps_early_inputs_came_late(model)})",    # the threshold's third case
             "kept = int(crossed)", "now = 1 - kept - late",                # and its first
             f"v_s = kept*v_snap + late*({last[0]}) + now*({this[0]})",
             f"I_s = kept*I_snap + late*({last[1]}) + now*({this[1]})",
             "hi = kept*(t_cross - t - dt) + late*(a_e - t - dt)", f"lo = hi*0 - {search_steps}*dt", "u = lo",
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
    layers : list of (NeuronGroup, Synapses)
        Per layer: the group and the synapses into it; in each step the
        synapses deliver, then the threshold is tested and the crossing
        found, before the next layer's turn.
    """
    inputs.thresholder["spike"].when, inputs.thresholder["spike"].order = "thresholds", 0
    for k, (group, synapses) in enumerate(layers, start=1):
        events = [synapses.pre, group.thresholder["spike"], group.resetter["spike"]]
        for order, event in enumerate(events, start=3 * k):
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
