"""
Out to NIR and back: a network with synaptic delays as a graph for other tools
==============================================================================

NIR, the Neuromorphic Intermediate Representation, is how snnTorch, Norse, Rockpool, Lava (Loihi 2),
SpiNNaker2 and Xylo exchange networks. Here a 4-30-3 network with a delay on every synapse is trained on
Yin-Yang, written as a NIR graph with :func:`~brian2_delgrad.to_nir`, read back with ``nir.read`` as
any tool would, turned into a network again with :func:`~brian2_delgrad.from_nir` and run in another
simulator, Brian2, against the exact one. (The :doc:`NIR page </guide/nir>` has the graph's layout and
what snnTorch makes of a graph without delays.)
"""
import tempfile
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import nir
import numpy as np
from brian2 import ms, us

from brian2_delgrad import Brian2Substrate, DelayNetwork, ExactSubstrate, Trainer, from_nir, to_nir
from brian2_delgrad.datasets import encode_times, yin_yang_split

# %%
# Train
# -----
# Twenty epochs of the exact substrate (a few seconds; the Yin-Yang example has the full recipe).

tau_s = 5*ms
X, y = yin_yang_split("train")
X_test, y_test = yin_yang_split("test")
net = DelayNetwork([4, 30, 3], delays="synaptic", seed=0)
trainer = Trainer(net, seed=0, progress=False)
trainer.fit(encode_times(X, tau_s), y, epochs=20)
print(f"test accuracy {trainer.score(encode_times(X_test, tau_s), y_test):.1%}")

# %%
# Export
# ------
# Every postsynaptic neuron gets a branch: a ``Delay`` of its synapses, a ``Linear`` of their weights and a
# ``Linear`` that routes the sum to it; ``CubaLIF`` nodes hold the neurons. The graph's metadata says how
# to read it: spikes as unit impulses, and time-to-first-spike coding (each neuron fires once; the first
# output spike is the class).

graph = to_nir(net)
path = Path(tempfile.mkdtemp()) / "yinyang_synaptic.nir"
nir.write(path, graph)
print(f"{path.name}: {path.stat().st_size / 1e3:.0f} kB, nodes by type:",
      dict(Counter(type(node).__name__ for node in graph.nodes.values())))
print("metadata:", {key: graph.metadata[key] for key in ("spikes", "coding", "time_unit")})

# %%
# Read it back, as another tool would
# -----------------------------------
# ``nir.read`` gives the graph; ``from_nir`` the network, bit for bit the one we trained.

loaded = from_nir(nir.read(path))
same = all(np.array_equal(a, b) for a, b in zip(net.weights, loaded.weights)) and all(
    np.array_equal(a["synaptic"], b["synaptic"]) for a, b in zip(net.delays, loaded.delays))
print(f"read back: {loaded}\nweights and delays identical: {same}")

# %%
# Run the loaded network in Brian2
# --------------------------------
# Brian2 simulates it on a 50 µs grid (arrivals and threshold crossings placed between grid points);
# its first spikes agree with the exact simulator's to a small fraction of the step.

inputs = encode_times(X_test[:60], tau_s)
exact = ExactSubstrate().run(net, inputs)
simulated = Brian2Substrate(dt=50*us, target="numpy").run(loaded, inputs)
figure, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for axis, k, name in zip(axes, (1, 2), ("hidden", "output")):
    both = np.isfinite(exact[k]) & np.isfinite(simulated[k])
    difference = np.abs(exact[k][both] - simulated[k][both]).max() / 50e-6
    axis.scatter(exact[k][both] * 1e3, simulated[k][both] * 1e3, s=6)
    axis.plot([0, 25], [0, 25], color="0.6", lw=0.8)
    axis.set(title=f"{name}: {both.sum()} spikes, largest difference {difference:.1e} dt",
             xlabel="exact simulator (ms)", ylabel="Brian2, from the NIR file (ms)")
    print(f"{name}: {both.sum()} spikes in both, {np.sum(np.isfinite(exact[k]) != np.isfinite(simulated[k]))} "
          f"in one only, largest difference {difference:.1e} dt")
figure.tight_layout()
plt.show()
