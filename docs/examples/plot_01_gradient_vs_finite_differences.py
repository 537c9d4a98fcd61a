"""
Exact delay gradient against finite differences
===============================================

One leaky integrate-and-fire neuron receives four input spikes. We sweep the transmission delay
of one of its synapses from 0.1 to 15 ms, record the neuron's spike time :math:`T(d)` and compare
the exact gradient :math:`dT/dd` that :func:`~brian2_delgrad.backward` computes from the spike
times alone with central finite differences of :math:`T(d)`. The sweep crosses the points where
another input starts to count (it arrives before the spike), where the swept input stops counting
(it arrives after the spike), and where the neuron falls silent.
"""
import matplotlib.pyplot as plt
import numpy as np
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel, backward

# %%
# One neuron, four inputs
# -----------------------
# A ``[4, 1]`` network is a single LIF neuron (``tau_m = 10 ms``, ``tau_s = 5 ms``, threshold 1)
# with four input synapses; ``delays='synaptic'`` gives each synapse its own delay. Inputs 0 and 1
# spike at 0 and 1 ms and cannot fire the neuron on their own; input 2 (the one whose delay we
# sweep) spikes at 0 ms; input 3 spikes at 5 ms. We run the sweep twice, with a strong and a weak
# input 3.

model = LIFModel(tau_m=10*ms, tau_s=5*ms, theta=1.0)
net = DelayNetwork([4, 1], delays="synaptic", model=model, seed=0)
input_times = np.array([[0.0, 1.0, 0.0, 5.0]]) * ms      # (batch, n_in): one sample
substrate = ExactSubstrate()
SWEPT = 2                                                  # the input whose delay we sweep


def run(delay, weights):
    """Spike times of every layer (seconds, inf = silent) for a delay (s) of input 2's synapse."""
    delays = np.zeros((4, 1))
    delays[SWEPT, 0] = delay
    net.set_parameters(weights=[np.array(weights)[:, None]], delays=[{"synaptic": delays}])
    return substrate.run(net, input_times)


def exact_gradient(times):
    """dT/dd of the output spike: backward with dL/dT = 1, i.e. the "loss" is T itself."""
    if not np.isfinite(times[-1][0, 0]):                    # silent: no spike, no gradient
        return np.nan
    grads = backward(net, times, np.ones((1, 1)))           # dL/dT of the output spike, 1/s
    return grads.delays[0]["synaptic"][SWEPT, 0]           # dL/dd = dT/dd (s per s)


# %%
# The sweep
# ---------
# For every delay we take the exact gradient and the central difference
# :math:`(T(d+h) - T(d-h)) / 2h` with :math:`h = 10` ns. The weights are dimensionless: a
# weight of 1 adds 1 to the synaptic current ``I`` of a neuron whose threshold is 1.

delays = np.linspace(0.1, 15.0, 300) * 1e-3                # seconds
h = 1e-8
cases = {"strong input 3 (w = 0.6)": [0.8, 0.8, 1.0, 0.6],
         "weak input 3 (w = 0.3)": [0.8, 0.8, 1.0, 0.3]}
results = {}
for name, weights in cases.items():
    T = np.empty(len(delays))
    exact = np.empty(len(delays))
    finite_difference = np.full(len(delays), np.nan)
    for n, d in enumerate(delays):
        times = run(d, weights)
        T[n], exact[n] = times[-1][0, 0], exact_gradient(times)
        later, earlier = run(d + h, weights)[-1][0, 0], run(d - h, weights)[-1][0, 0]
        if np.isfinite(later) and np.isfinite(earlier):
            finite_difference[n] = (later - earlier) / (2 * h)
    results[name] = T, exact, finite_difference
    both = np.isfinite(exact) & np.isfinite(finite_difference)
    difference = np.abs(exact - finite_difference)[both]
    relative = difference / np.maximum(np.abs(exact[both]), 1e-3)   # where dT/dd = 0: absolute / 1e-3
    print(f"{name}: a spike at {both.sum()} of {len(delays)} delays; largest |exact - finite difference| "
          f"{difference.max():.1e} (relative {relative.max():.1e})")

# %%
# What the figure shows
# ---------------------
# While the swept input arrives early it drives the spike, and every millisecond of delay postpones
# the spike by a third of a millisecond or more (:math:`dT/dd > 0`). Then:
#
# * when the spike moves past 5 ms, **input 3 becomes causal** (it now arrives before the spike
#   and helps to cause it): the spike time keeps rising, but more slowly, so :math:`dT/dd` jumps
#   down — :math:`T(d)` has a kink;
# * with a strong input 3 (blue), inputs 0, 1 and 3 fire the neuron by themselves once the swept
#   input arrives late enough: from then on **the swept input arrives after the spike**, it is no
#   longer causal, :math:`T` is flat and :math:`dT/dd = 0`;
# * with a weak input 3 (orange) the neuron needs the swept input, so the spike comes later and
#   later and **the neuron falls silent** (grey band: no spike, no gradient) where the membrane
#   no longer reaches the threshold; just before that the gradient grows steeply (it is
#   proportional to one over the membrane's slope at the crossing, which goes to zero).
#
# Away from the kinks the exact gradient and the finite differences agree to rounding: the printed
# largest relative difference is about 1e-8, and it sits just before the neuron falls silent, where
# :math:`T(d)` curves so sharply that the finite difference itself is least accurate. The exact
# gradient needs no second forward pass and no membrane potential, only the spike times.

figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True, constrained_layout=True)
for (name, (T, exact, finite_difference)), colour in zip(results.items(), ("tab:blue", "tab:orange")):
    top.plot(delays * 1e3, T * 1e3, color=colour, label=name)
    bottom.plot(delays * 1e3, exact, color=colour, label=f"exact, {name}")
    bottom.plot(delays[::6] * 1e3, finite_difference[::6], "o", ms=4, mfc="none", color=colour,
                label="finite differences")
silent = delays[~np.isfinite(results["weak input 3 (w = 0.3)"][0])]
for axis in (top, bottom):
    axis.axvspan(silent.min() * 1e3, silent.max() * 1e3, color="0.9", label="weak: no spike" if axis is top else None)
top.axhline(5.0, color="0.6", lw=0.8, ls="--")
top.annotate("input 3 arrives (5 ms)", (0.3, 5.0), xytext=(0.3, 5.4), fontsize="small", color="0.4")
top.set(ylabel="output spike time T (ms)", title="spike time against the delay of input 2")
top.legend(loc="upper left")
bottom.axhline(0.0, color="0.6", lw=0.8)
bottom.set(xlabel="delay of input 2's synapse d (ms)", ylabel="dT/dd (ms per ms)",
           title="exact gradient (lines) and central finite differences (markers)", ylim=(-0.1, 3.0))
bottom.legend(loc="upper left", fontsize="small", ncol=2)
plt.show()
