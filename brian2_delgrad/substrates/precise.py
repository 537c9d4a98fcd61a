"""Brian2 code for precise spike timing: exact arrivals and crossings between the grid points.

A clock-driven simulation applies a spike at the end of a time step and
detects a threshold crossing at the end of a step, so every arrival and
every spike time is off by a fraction of ``dt``; a neuron that crosses
threshold slowly (grazing) turns that into errors of many ``dt``. The model
is linear between events, so both can be undone exactly (the method of
Morrison et al. 2007, Neural Comput. 19:47, for current-based synapses):

* arrival: the synapse knows the spike's exact time (``t_spike`` of the
  presynaptic neuron plus the exact delay), so at the end ``t + dt`` of the
  step in which Brian2 delivers it, it adds what the input would have done
  since then -- ``I += w exp(-lag/tau_s)`` and ``v += w K(lag)`` with the
  PSP kernel ``K`` and ``lag = t + dt - arrival``; a spike delivered up to
  half a step before its arrival (Brian2 rounds delays to the nearest step)
  gets the kernel's continuation to negative lags, which is exact from the
  arrival on;
* crossing: when Brian2 detects ``v > theta`` at the end of a step, the
  membrane is propagated back in time with the model's free solution and
  the crossing found by safeguarded Newton iterations within the last
  ``_SEARCH_STEPS`` steps; the result is the neuron's ``t_spike``, which the
  ``SpikeMonitor`` records and the next synapses use.

What is left is what a discrete-time simulation cannot know: an input that
Brian2 applies after the threshold test although it arrived before the
crossing (up to about 1.5 steps before it: delivery is rounded to the grid)
is missing from the state the crossing is found in, and one applied up to
half a step before its arrival contributes its continuation a little early;
both are errors of order ``w dt / tau_s`` in ``v``, which matter only where a
neuron grazes threshold.
"""

__all__ = ["arrival_code", "crossing_code"]

_SEARCH_STEPS = 5      # a detection is at most this many steps after the crossing (inputs up to ~2.5 dt late)
_ITERATIONS = 8        # Newton steps, each kept inside the bracket (bisection otherwise)


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


def arrival_code(model):
    """``on_pre`` statements of a synapse with weight ``w``: the input applied as if at its exact time.

    Parameters
    ----------
    model : LIFModel

    Returns
    -------
    str
        Brian2 abstract code; needs ``t_spike`` in the presynaptic group and
        the synapse's exact ``delay``.
    """
    v, current = _free_solution(model, "0", "w", "lag")
    return "\n".join([
        "lag = t + dt - (t_spike_pre + delay)",
        f"v_post += {v}",
        f"I_post += {current}",
    ])


def crossing_code(model, membrane_noise=False):
    """``reset`` statements that set ``t_spike`` to the exact threshold crossing (and ``fired``).

    Parameters
    ----------
    model : LIFModel
    membrane_noise : bool
        The crossing is searched within ``_SEARCH_STEPS`` steps before the
        detection, with membrane noise (whose kicks the free solution does
        not know) within the step of detection only. Where the free membrane
        is above threshold even at the start of that window, ``t_spike`` is
        that start (with membrane noise: the grid time, as with grid timing).

    Returns
    -------
    str
        Brian2 abstract code run right after the threshold test, while
        ``v`` and ``I`` are the state at ``t + dt``; ``theta`` is the
        neuron's own (noisy) threshold.
    """
    tau_m, tau_s = _constants(model)
    v_at, i_at = _free_solution(model, "v", "I", "u")
    search_steps = 1 if membrane_noise else _SEARCH_STEPS
    # (0*v: per-neuron temporaries; Brian2 would take a constant start for a scalar)
    lines = ["hi = 0*v*second", f"lo = hi - {search_steps}*dt", "u = lo", f"bracketed = int({v_at} <= theta)",
             "u = hi"]
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
