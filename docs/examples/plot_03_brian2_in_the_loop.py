"""
Brian2 in the loop: the same spikes, the same gradients
=======================================================

The backward pass of DelGrad needs only spike times, so the forward pass can run anywhere: in the
exact event-based simulator, in a clock-driven Brian2 simulation or on a chip. Here a small network
trained on Yin-Yang runs in Brian2 through :class:`~brian2_delgrad.Brian2Substrate`; we compare
its spike times and the gradients computed from them with those of the exact substrate, then
build the trained network as a plain ``brian2.Network`` with
:func:`~brian2_delgrad.to_brian2`, record it with Brian2's own ``SpikeMonitor`` and
draw a spike raster of three samples.
"""
import brian2 as b2
import matplotlib.pyplot as plt
import numpy as np
from brian2 import ms, us

from brian2_delgrad import (Brian2Substrate, DelayNetwork, ExactSubstrate, ShiftInvariantMSE, Trainer, backward,
                            simulation_time, to_brian2)
from brian2_delgrad.datasets import encode_times, yin_yang_split
from brian2_delgrad.brian2_io.precise import order_notes_hidden

# %%
# A network to run
# ----------------
# A 4-30-3 network with synaptic delays, trained for 20 epochs on the exact substrate (a few
# seconds; see the Yin-Yang example for the full recipe).

tau_s = 5*ms
X, y = yin_yang_split("train")
X_test, y_test = yin_yang_split("test")
net = DelayNetwork([4, 30, 3], delays="synaptic", seed=0)
trainer = Trainer(net, seed=0, progress=False)
trainer.fit(encode_times(X, tau_s), y, epochs=20)
print(f"trained: test accuracy {trainer.score(encode_times(X_test, tau_s), y_test):.1%} (exact substrate)")

# %%
# Spike times: Brian2 against the exact substrate
# -----------------------------------------------
# ``Brian2Substrate`` simulates a batch as copies of the network in one Brian2 ``Network`` and
# returns the spike times in the same format as ``ExactSubstrate``: one ``(batch, n)`` array per
# layer, in seconds, ``inf`` for a neuron that stayed silent. With its default
# ``timing='precise'`` arrivals and threshold crossings are placed exactly between the grid
# points, so the time step can be coarse: we take 50 µs, a hundredth of ``tau_s`` (the default
# is 10 µs). We use Brian2's ``numpy`` target, which needs no compiler: ``cython`` and
# ``cpp_standalone`` simulate much faster, but their first compilation on a fresh machine takes a
# minute or more, longer than this whole example.

dt = 50*us
inputs = encode_times(X_test[:150], tau_s)          # one batch of 150 test samples, seconds
labels = y_test[:150]
brian2_times = Brian2Substrate(dt=dt, target="numpy").run(net, inputs)
exact_times = ExactSubstrate().run(net, inputs)

for k, (exact, simulated) in enumerate(zip(exact_times[1:], brian2_times[1:]), start=1):
    both = np.isfinite(exact) & np.isfinite(simulated)
    mismatched = np.sum(np.isfinite(exact) != np.isfinite(simulated))
    error = np.max(np.abs(exact[both] - simulated[both])) / float(dt)
    print(f"layer {k}: {both.sum()} spikes in both, {mismatched} in one only; "
          f"largest difference {error:.1e} dt")

# %%
# The spike times agree to rounding, far below one time step: the Brian2 simulation *is* the
# exact model, sampled on a grid. (``timing='grid'``, plain clock-driven Brian2, would put the
# spikes on the grid, typically a third of a step off and now and then several steps.)
#
# Gradients from Brian2's spikes
# ------------------------------
# In-the-loop training (``Trainer(net, substrate=Brian2Substrate(...))``) computes the exact
# gradients at the spike times the simulator recorded. Here we do it by hand for the batch: the
# loss gives :math:`dL/dT` of the output spikes, :func:`~brian2_delgrad.backward` the gradients
# with respect to every weight and delay.

loss = ShiftInvariantMSE()
gradients = {}
for name, times in (("exact", exact_times), ("Brian2", brian2_times)):
    _, dL_dT = loss(times[-1], labels, tau_s)      # dL/dT in 1/s
    gradients[name] = backward(net, times, dL_dT)

for k in range(len(net.weights)):
    for name, exact, simulated in (("weights", gradients["exact"].weights[k], gradients["Brian2"].weights[k]),
                                   ("delays", gradients["exact"].delays[k]["synaptic"],
                                    gradients["Brian2"].delays[k]["synaptic"])):
        relative = np.max(np.abs(exact - simulated)) / np.max(np.abs(exact))
        print(f"layer {k + 1} {name}: largest difference {relative:.1e} of the largest gradient")

# %%
# The gradients from Brian2's spikes are the exact gradients to better than one part in 10^12: a
# training step in the loop is the step the exact substrate would take.
#
# A plain Brian2 network and its spike raster
# -------------------------------------------
# ``to_brian2`` hands the trained network back as ordinary Brian2 objects: one copy of the network
# per sample, ``network['neurons_<k>']`` the ``NeuronGroup`` of layer ``k``, ``network['spikes_<k>']``
# its ``SpikeMonitor`` (recording ``t_spike``, the spike time between grid points). We add a
# monitor of our own on the input group, run it for three test samples and draw what Brian2
# recorded, with the exact substrate's spike times on top. The groups carry their constants
# (``tau_m``, ``tau_s``) in their own namespace, so we run with an empty one (otherwise Brian2
# warns that our ``tau_s`` and ``dt`` shadow them), and hide Brian2's note that the precise
# arrival code depends on the order in which spikes are delivered (it does, by design).

chosen = [int(np.flatnonzero(labels == c)[0]) for c in range(3)]    # one test sample per class
samples = inputs[chosen]
network = to_brian2(net, samples, dt=dt)
input_monitor = b2.SpikeMonitor(network["inputs"], variables=["t_spike"])
network.add(input_monitor)
with order_notes_hidden():
    network.run(simulation_time(net, samples), namespace={})

monitors = [input_monitor, network["spikes_1"], network["spikes_2"]]
layer_names = ["input", "hidden", "output"]
figure, axes = plt.subplots(3, len(samples), figsize=(9, 6.3), sharex=True, sharey="row",
                            gridspec_kw=dict(height_ratios=[1, 3, 1]), layout="constrained")
for row, (monitor, n, name) in enumerate(zip(monitors, net.sizes, layer_names)):
    copy, neuron = np.asarray(monitor.i) // n, np.asarray(monitor.i) % n   # index = copy * n + neuron
    spike_times = np.asarray(monitor.t_spike / ms)
    for s, axis in enumerate(axes[row]):
        axis.scatter(spike_times[copy == s], neuron[copy == s], marker="|", s=60, color="k",
                     label="Brian2 (SpikeMonitor)")
        exact = exact_times[row][chosen[s]] * 1e3                          # ms
        fired = np.isfinite(exact)
        axis.scatter(exact[fired], np.flatnonzero(fired), s=30, facecolors="none", edgecolors="tab:red",
                     lw=0.8, label="exact substrate")
        axis.set_ylim(-0.7, n - 0.3)
        if row == 0:
            axis.set_title(f"test sample {chosen[s]}, class {labels[chosen[s]]}")
        if row == 2:
            decision = int(np.argmin(exact))
            axis.annotate(f"decision {decision}", (exact[decision], decision), xytext=(6, 0),
                          textcoords="offset points", va="center", fontsize="small",
                          color="tab:green" if decision == labels[chosen[s]] else "tab:red")
            axis.set_xlabel("time (ms)")
    axes[row][0].set_ylabel(f"{name} neuron")
figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
plt.show()

# %%
# Each input neuron fires once, at its encoded time; the hidden neurons answer within a few
# milliseconds, and the output neuron that fires first is the network's decision (green: right,
# red: wrong). Brian2's
# recorded spikes (black ticks) and the exact ones (red circles) coincide. The same
# ``network`` can be given other stimuli, more monitors (a ``StateMonitor`` of ``v`` for the
# membranes) or embedded in a larger Brian2 model.
