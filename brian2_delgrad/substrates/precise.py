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
arrives within a step just before the crossing is missing from the state the
crossing is found in (an error of at most ``w dt / (2 tau_s)`` in ``v``).
"""

__all__ = ["arrival_code", "crossing_code"]

_SEARCH_STEPS = 3      # a detection is at most this many steps after the crossing
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


def crossing_code(model):
    """``reset`` statements that set ``t_spike`` to the exact threshold crossing (and ``fired``).

    Parameters
    ----------
    model : LIFModel

    Returns
    -------
    str
        Brian2 abstract code run right after the threshold test, while
        ``v`` and ``I`` are the state at ``t + dt``; ``theta`` is the
        neuron's own (noisy) threshold.
    """
    tau_m, tau_s = _constants(model)
    v_at, i_at = _free_solution(model, "v", "I", "u")
    # (0*v: per-neuron temporaries; Brian2 would take a constant start for a scalar)
    lines = ["hi = 0*v*second", f"lo = hi - {_SEARCH_STEPS}*dt", "u = hi"]
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
    lines += ["t_spike = t + dt + u", "fired = True"]
    return "\n".join(lines)
