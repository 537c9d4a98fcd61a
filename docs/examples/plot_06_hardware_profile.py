"""
The BrainScaleS-2 hardware profile
==================================

DelGrad was published with networks trained *in the loop* on the BrainScaleS-2 neuromorphic chip:
the forward pass runs on the noisy analogue circuits, the spike times are recorded, and the exact
gradient of the ideal model is evaluated at those recorded times. A
:class:`~brian2_delgrad.HardwareProfile` describes what such a substrate imposes on the model (time
constants, threshold, a 6-bit weight grid, a fixed pattern of threshold offsets, batch-to-batch
threshold noise, delay jitter, axonal delays only). This example shows the ``'brainscales2'``
profile, trains the same 20-30-3 network with axonal delays briefly twice, once without the
profile's imperfections and once with them in the loop, tests both networks under each condition,
and shows the spike times of one network on the ideal model and on its "chip".

Both trainings last 30 epochs instead of the published 300, so that the example runs in under a
minute; the published comparison is ``brian2-delgrad study hardware``
(:ref:`results-hardware`).
"""

# %%
# What the profile changes
# ------------------------
#
# :func:`~brian2_delgrad.get_profile` returns a profile by name; ``PROFILES`` holds them all. The
# ``'ideal'`` profile imposes nothing. Values are in model units: thresholds and weights in units
# of the membrane variable ``v``, delays and jitter in units of ``tau_s``.
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brian2_delgrad import ExactSubstrate, Noise, PROFILES, get_profile, load_model_file
from brian2_delgrad.training.losses import predict_labels
from brian2_delgrad.training.optim import quantize_weights
from brian2_delgrad.substrates.noise import NoiseSource

profile = get_profile("brainscales2")
meaning = {
    "tau_ratio": "tau_m / tau_s required",
    "theta": "threshold required",
    "weight_step": "weights rounded to multiples of this (6 bit + sign)",
    "weight_limit": "weights clipped to +- this",
    "threshold_pattern": "per-neuron threshold offset (mean, std), drawn once per chip",
    "threshold_trial": "threshold noise redrawn per sample (std)",
    "threshold_batch": "threshold noise redrawn per forward pass of a batch (std)",
    "delay_jitter": "jitter of every delayed spike (std, tau_s)",
    "placements": "delay placements the chip has",
    "delay_range": "trained delays stay within (tau_s)",
    "input_replicas": "channels per input (sharing one delay)",
}
table = pd.DataFrame({name: dataclasses.asdict(p) for name, p in PROFILES.items()}).drop("name")
table["meaning"] = pd.Series(meaning)
print(table.to_string())

# %%
# In training, the profile becomes two things: the noise of the substrate
# (:class:`~brian2_delgrad.Noise`, here for ``tau_s`` = 5 ms, so a delay jitter of 0.05 ms) and
# the weight grid of the :class:`~brian2_delgrad.Trainer` (float *shadow* weights take the Adam
# steps; the network holds them rounded to the grid).
print(profile.noise(5e-3))
print(profile.trainer_settings)

# %%
# The network and its noise-free twin
# -----------------------------------
#
# The shipped model file ``yinyang_bss2_wa`` is the published hardware network: the four
# Yin-Yang inputs, each fed through 5 channels that share one axonal delay, 30 hidden and 3 output
# neurons, ``tau_m = tau_s``, ``theta = 2.6``, axonal delays within (2, 3.5) ``tau_s``, and the
# published recipe (batch 40, learning rate 0.002, margin 0.3, grazing guard, last epoch reported).
# The profile is part of the model file.
#
# For the comparison we want the same network and recipe *without* the imperfections. The
# ``'ideal'`` profile would also drop the 5 input channels, so instead we make a twin of the profile
# with the same constraints and no weight grid and no noise (a profile is a frozen dataclass).
chip_model = load_model_file("yinyang_bss2_wa")      # a shipped model file, by name
twin_profile = dataclasses.replace(profile, name="brainscales2 without imperfections", weight_step=None,
                                   weight_limit=None, threshold_pattern=(0.0, 0.0), threshold_batch=0.0,
                                   delay_jitter=0.0)
ideal_model = dataclasses.replace(chip_model, profile=twin_profile)
print(chip_model.description)
print("sizes", chip_model.sizes, "| tau_m, tau_s:", chip_model.model.tau_m, chip_model.model.tau_s,
      "| theta:", chip_model.model.theta)

X_train, y_train = chip_model.data("train")        # input spike times (s), each input repeated 5 times
X_val, y_val = chip_model.data("validation")
X_test, y_test = chip_model.data("test")
print("inputs per sample:", X_train.shape[1])

# %%
# Every "chip" has its own fixed pattern of threshold offsets, drawn once from ``N(0.13, 0.08)``
# with a seed (``pattern_seed``; a model file's substrate uses the training seed). On top of it,
# every forward pass of a batch draws a new offset per neuron (standard deviation 0.04), shared by
# the 40 samples of the batch. Here are the hidden neurons' thresholds of the chip the network is
# trained on (seed 0) and of another one (seed 1):
SEED = 0
net_shape = chip_model.network(seed=SEED)
pattern_only = Noise(threshold_pattern=profile.threshold_pattern)
fig, ax = plt.subplots(figsize=(9, 3.4), layout="constrained")
for chip, marker in [(0, "o"), (1, "s")]:
    thresholds = NoiseSource(pattern_only, seed=chip, pattern_seed=chip).thresholds(net_shape, batch=1)[0][0]
    ax.errorbar(np.arange(30) + 0.15 * chip, thresholds, yerr=profile.threshold_batch, fmt=marker, ms=4,
                capsize=2, label=f"chip {chip} (bars: batch-to-batch noise, 1 std)")
ax.axhline(chip_model.model.theta, color="k", lw=1, ls="--", label="theta = 2.6 of the model")
ax.set_xlabel("hidden neuron")
ax.set_ylabel("threshold (units of v)")
fig.legend(loc="outside upper center", ncols=3, fontsize="small")
plt.show()

# %%
# Training with and without the profile
# -------------------------------------
#
# ``ModelFile.trainer`` builds a :class:`~brian2_delgrad.Trainer` with the file's recipe, the
# profile's weight grid and an exact substrate with the profile's noise (seeded with the training
# seed, so chip 0). The validation accuracy is measured on the training substrate, i.e. with noise
# for the chip network.
EPOCHS = 30
networks, histories, trainers = {}, {}, {}
for name, model in [("ideal", ideal_model), ("chip in the loop", chip_model)]:
    net = model.network(seed=SEED)
    trainer = trainers[name] = model.trainer(net, seed=SEED, progress=False)
    histories[name] = trainer.fit(X_train, y_train, validation=(X_val, y_val), epochs=EPOCHS)
    networks[name] = net          # keep_best = false: the network of the last epoch, as published
    validation = histories[name].query("split == 'validation'")
    print(f"{name:>16}: validation accuracy at epoch {EPOCHS}: {validation.accuracy.iloc[-1]:.3f}, "
          f"best {validation.accuracy.max():.3f} (epoch {trainer.best_epoch_}), {validation.wall_time.sum():.1f} s")

# The chip network of its best validation epoch too (model selection, which the published recipe does not do)
best_epoch, networks["chip in the loop, best epoch"] = trainers["chip in the loop"].selected_networks()["best"]

# %%
# The left panel shows validation accuracy during training. On the right, the hidden-layer weights
# of both networks between 0.6 and 1.4 (each dot a synapse, spread vertically to be visible): the
# chip network's weights sit on the grid of multiples of 1/30 (dotted lines), the ideal network's
# anywhere.
fig, (ax_curve, ax_weights) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for name, history in histories.items():
    validation = history.query("split == 'validation' and epoch > 0")
    ax_curve.plot(validation.epoch, 100 * validation.accuracy, label=name)
ax_curve.plot(best_epoch, 100 * histories["chip in the loop"].query("split == 'validation'").accuracy.max(), "o",
              mfc="none", color="C1", label="its best validation epoch")
ax_curve.set_xlabel("epoch")
ax_curve.set_ylabel("validation accuracy (%)")
ax_curve.set_ylim(30, 100)
ax_curve.legend()

rng = np.random.default_rng(0)
for row, name in enumerate(["ideal", "chip in the loop"]):
    weights = networks[name].weights[0].ravel()
    ax_weights.plot(weights, row + rng.uniform(-0.3, 0.3, weights.size), ".", ms=4, color=f"C{row}")
ax_weights.vlines(np.arange(18, 43) / 30, -0.5, 1.5, color="0.7", lw=0.6, ls=":", zorder=0)
ax_weights.set_xlim(0.6, 1.4)
ax_weights.set_yticks([0, 1], ["ideal\n(float)", "chip in the loop\n(6-bit grid)"])
ax_weights.set_xlabel("weight, input -> hidden (units of v)")
plt.show()

# %%
# Test accuracy under each condition
# ----------------------------------
#
# The networks are tested on the 1000 test samples with the profile's imperfections added one at
# a time: the ideal model; the same with the weights rounded to the grid (the ideal network's
# weights are put on it; the chip network's already are); plus the threshold pattern of chip 0;
# plus batch-to-batch threshold noise and delay jitter (the full profile, on chip 0, the chip the
# second network was trained on); and the full profile on chip 1, a chip no network has seen.
# Noisy conditions are averaged over 5 noise draws, each in forward passes of 40 samples. Besides
# the network of the last epoch (the published recipe reports it), the chip network of its best
# validation epoch is tested too.
chip_noise = chip_model.noise()                     # the profile's Noise for this model's tau_s
conditions = {                                      # name: (Noise, chip, weight grid)
    "ideal model": (Noise(), 0, False),
    "+ 6-bit weights": (Noise(), 0, True),
    "+ threshold pattern (chip 0)": (pattern_only, 0, True),
    "+ batch noise, jitter (chip 0)": (chip_noise, 0, True),
    "full profile, chip 1": (chip_noise, 1, True),
}


def on_grid(net):
    """A copy of ``net`` with its weights as the chip realises them."""
    copy = net.copy()
    copy.weights = [quantize_weights(w, profile.weight_step, profile.weight_limit) for w in net.weights]
    return copy


def test_accuracy(net, noise, chip, draws=5):
    """Mean and std of the test accuracy over noise draws (one draw without noise)."""
    accuracies = []
    for draw in range(1 if noise.is_ideal else draws):
        substrate = ExactSubstrate(noise=noise, seed=100 + draw, pattern_seed=chip, batch_size=40)
        accuracies.append(np.mean(predict_labels(substrate.run(net, X_test)[-1]) == y_test))
    return np.mean(accuracies), np.std(accuracies)


rows = []
for name, net in networks.items():
    for condition, (noise, chip, grid) in conditions.items():
        mean, std = test_accuracy(on_grid(net) if grid else net, noise, chip)
        rows.append(dict(network=name, condition=condition, accuracy=mean, std=std))
accuracy = pd.DataFrame(rows)
accuracy["test accuracy (%)"] = [f"{100 * a:.1f} +- {100 * s:.1f}" for a, s in zip(accuracy.accuracy, accuracy["std"])]
print(accuracy.pivot(index="condition", columns="network", values="test accuracy (%)")
      .loc[list(conditions), list(networks)].to_string())

# %%
fig, ax = plt.subplots(figsize=(10, 4.6), layout="constrained")
width = 0.27
for k, (name, rows) in enumerate(accuracy.groupby("network", sort=False)):
    x = np.arange(len(conditions)) + (k - 1) * width
    ax.bar(x, 100 * rows.accuracy, width, yerr=100 * rows["std"], capsize=3, label=f"trained: {name}")
ax.set_xticks(np.arange(len(conditions)), list(conditions), rotation=15, ha="right")
ax.set_ylabel("test accuracy (%)")
ax.set_ylim(0, 100)
ax.axhline(100 / 3, color="k", lw=0.8, ls=":")
ax.text(len(conditions) - 0.5, 100 / 3 + 1.5, "chance", ha="right", fontsize="small")
ax.set_title(f"after {EPOCHS} epochs (error bars: std over 5 noise draws)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=3)
plt.show()

# %%
# One sample, ideal model against the chip
# ----------------------------------------
#
# The spike times of the chip-trained network (last epoch) for one test sample: on the ideal model
# (no threshold offsets), on chip 0 with its threshold pattern only, and on chip 0 with the full
# profile in 20 forward passes (each with its own batch-to-batch noise and delay jitter). The
# thresholds of chip 0 lie 0.13 above ``theta`` on average, so its spikes mostly come later than
# the ideal model's; the batch-to-batch noise scatters them further, most for the neurons whose
# membrane only just reaches threshold, and the output neuron that fires first decides the class
# (printed below for each run).
net = networks["chip in the loop"]
sample = X_test[:1]
runs = {
    "ideal model": ExactSubstrate().run(net, sample),
    "chip 0, threshold pattern only": ExactSubstrate(noise=pattern_only, pattern_seed=0).run(net, sample),
}
noisy = ExactSubstrate(noise=chip_noise, seed=7, pattern_seed=0, batch_size=1).run(net, np.repeat(sample, 20, 0))
for name, run in runs.items():
    print(f"{name}: class {predict_labels(run[-1])[0]}")
print("chip 0, full profile, class in each of the 20 passes:", predict_labels(noisy[-1]))
print("label:", y_test[0])

fig, (ax_out, ax_hidden) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, height_ratios=[1, 3],
                                        layout="constrained")
styles = {"ideal model": dict(marker="x", color="k"), "chip 0, threshold pattern only": dict(marker="o", mfc="none",
                                                                                            color="C3")}
for ax, layer in [(ax_hidden, 1), (ax_out, 2)]:
    neurons = np.arange(net.sizes[layer])
    for k, draw in enumerate(noisy[layer] * 1e3):              # ms
        ax.plot(draw, neurons, ".", color="0.6", ms=3, label="chip 0, full profile (20 passes)" if k == 0 else None)
    for name, run in runs.items():
        ax.plot(run[layer][0] * 1e3, neurons, ls="none", ms=6, label=name, **styles[name])
ax_out.set_yticks([0, 1, 2])
ax_out.set_ylim(-0.5, 2.5)
ax_out.set_ylabel("output neuron")
ax_out.set_title(f"test sample 0 (label {y_test[0]}): the output neuron that fires first is the class")
ax_hidden.set_ylabel("hidden neuron")
ax_hidden.set_xlabel("spike time (ms of model time; tau_s = 5 ms here, 6 µs on the chip)")
ax_out.legend(fontsize="small", loc="upper left")
plt.show()

# %%
# What this short run shows, and what it does not
# -----------------------------------------------
#
# Three things are visible after 30 epochs (one seed; the table above has the numbers):
#
# - A network trained on the ideal model does not survive the move to the chip. Rounding its
#   weights to the 6-bit grid costs nothing measurable here, but the chip's threshold pattern
#   (0.13 above ``theta`` on average, 0.08 from neuron to neuron) delays and reorders its spikes
#   and costs about 30 points.
# - The network trained in the loop has adapted to the thresholds it was trained with. At its
#   best validation epoch it is about 20 points worse on the ideal model than on its chip and
#   loses about 11 points on chip 1, whose pattern it has not seen. At its last epoch the picture
#   is muddier (a few points between the conditions, and chip 1 slightly *better* than chip 0):
#   one seed and two chips cannot say how much a network depends on its own chip.
# - Under batch-to-batch noise the validation accuracy jumps from epoch to epoch. The last epoch,
#   which the published recipe reports, happened to catch a bad moment here (validation accuracy
#   about 11 points below the best epoch's), and its test accuracy on chip 0 is about 12 points
#   below the best epoch's network. In this comparison it matters as much which epoch is reported
#   as anything else.
#
# It does not show the published result, which is about a longer training and about delays.
# With the full recipe (300 epochs, last epoch reported, 5 seeds) the network with axonal delays
# reaches a median test accuracy of 93.6 % and the weights-only network (``yinyang_bss2_w``)
# 86.4 % (published single runs: 92.6-92.8 % and 84.9 %), mostly because the weights-only
# network's validation accuracy keeps jumping under the batch-to-batch noise, which its last epoch
# catches at a random moment (:ref:`results-hardware` in the user guide). 30 epochs and one seed are
# far from converged, and their numbers move by points with the seed. The full comparison takes
# about 20 minutes on two cores::
#
#     brian2-delgrad study hardware
