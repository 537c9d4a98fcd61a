"""
Delay placements compared
=========================

Where should a learnable delay sit: on the axon (one value per presynaptic neuron), on the
dendrite (one per postsynaptic neuron), on every synapse, or nowhere (weights only)? This example
trains small Yin-Yang networks with each placement, using the project's own study machinery (a
study file, :func:`~brian2_delgrad.load_study`, one :func:`~brian2_delgrad.experiments.trial.run_trial` per
grid point, and the tidy results table), and plots test accuracy against the number of trained
parameters: how much accuracy each placement buys per parameter.

It is a *short* run (30 epochs instead of 300, two seeds, two hidden sizes) so that it builds in
well under a minute. It shows how to set such a comparison up and read it, not the published
result: the full study is ``brian2-delgrad study delay_types``
(:ref:`results-delay-types`).
"""

# %%
# A study written to a temporary folder
# -------------------------------------
#
# A study is a grid over model files (each brings its published recipe), hidden-layer sizes and
# seeds. The model files ship with the package; a study file names them by name (``brian2-delgrad list``):
# ``yinyang_h30_w`` (weights only), ``_wa`` (axonal), ``_wd`` (dendritic), ``_ws`` (synaptic) and
# ``_wad`` (axonal + dendritic). The grid replaces their 30 hidden neurons by 5 and 15 and shortens
# training.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from brian2_delgrad import load_study
from brian2_delgrad.experiments.study import summarize
from brian2_delgrad.experiments.trial import run_trial

PLACEMENTS = {"none": "yinyang_h30_w", "axonal": "yinyang_h30_wa", "dendritic": "yinyang_h30_wd",
              "synaptic": "yinyang_h30_ws", "axonal+dendritic": "yinyang_h30_wad"}

model_list = ",\n    ".join(f'"{name}"' for name in PLACEMENTS.values())   # shipped names
study_text = f"""
description = "Delay placements in small Yin-Yang networks (a short run for the documentation)"

[grid]
models = [
    {model_list},
]
hidden = [5, 15]      # replaces the models' 30 hidden neurons
seeds = [0, 1]
epochs = 30           # instead of the recipes' 300
"""
with tempfile.TemporaryDirectory() as folder:        # the file is read once; the trials keep what they need
    path = Path(folder) / "placements.toml"
    path.write_text(study_text)
    study = load_study(path)
print(f"{len(study.trials)} trials, e.g. {study.trials[0].id}")

# %%
# Train every trial
# -----------------
#
# :func:`~brian2_delgrad.run_study` would run the trials in parallel on a dask cluster and write
# ``results.csv``, ``summary.csv`` and figures to a folder; here, to stay in one process, each
# trial is run directly with :func:`~brian2_delgrad.experiments.trial.run_trial`, which trains the network
# with its recipe and tests it on the 1000 test samples. Each returns the trial's rows of the
# tidy results table (one row per epoch and split, plus the test rows), the trained networks and more.
results = pd.concat([run_trial(trial).table for trial in study.trials], ignore_index=True)
print(results.shape, "columns:", ", ".join(results.columns[:12]), "...")

# %%
# The test rows
# -------------
#
# The ideal-substrate recipes keep the network of the best validation epoch (``selection ==
# 'best'``); ``'last'`` rows test the network of the last epoch. ``n_parameters`` counts weights and
# delays: ``7H`` for weights only, ``8H + 4`` axonal, ``8H + 3`` dendritic, ``9H + 7`` both, ``14H``
# synaptic, for ``4-H-3``.
test = results[(results.split == "test") & (results.selection == "best")]
columns = ["placement", "hidden", "n_parameters", "seed", "epoch", "accuracy"]
print(test[columns].sort_values(["hidden", "n_parameters", "seed"]).to_string(index=False))

# %%
# Median and quartiles over seeds, per condition (what ``summary.csv`` of a study holds), with the
# initial learning rates of each recipe:
summary = summarize(results)
summary = summary[summary.selection == "best"]
print(summary[["placement", "hidden", "n_parameters", "lr_weights_initial", "lr_delays_initial", "median", "q25",
               "q75", "count"]].sort_values(["hidden", "n_parameters"]).to_string(index=False))

# %%
# Accuracy per parameter
# ----------------------
#
# Left: test accuracy against the number of trained parameters, one line per placement through
# its two hidden sizes (line: median over the seeds, dots: single seeds). Right: the validation
# accuracy of the 4-5-3 networks during training (median over seeds), to show how far from
# converged 30 epochs are.
colors = dict(zip(PLACEMENTS, plt.get_cmap("tab10").colors))
fig, (ax_params, ax_curves) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for placement in PLACEMENTS:
    rows = test[test.placement == placement]
    medians = rows.groupby("n_parameters").accuracy.median()
    ax_params.plot(medians.index, 100 * medians.values, "-", color=colors[placement], label=placement)
    ax_params.plot(rows.n_parameters, 100 * rows.accuracy, "o", color=colors[placement], alpha=0.6, ms=5)
ax_params.set_xlabel("trained parameters (weights + delays)")
ax_params.set_ylabel("test accuracy (%)")
ax_params.set_title("hidden 5 (left end) and 15 (right end), 30 epochs")
ax_params.legend(title="delays", fontsize="small")

validation = results[(results.split == "validation") & (results.hidden == 5)]
for placement in PLACEMENTS:
    rows = validation[validation.placement == placement]
    curve = rows.groupby("epoch").accuracy.median()
    ax_curves.plot(curve.index, 100 * curve.values, color=colors[placement], label=placement)
ax_curves.set_xlabel("epoch")
ax_curves.set_ylabel("validation accuracy (%)")
ax_curves.set_title("4-5-3 networks during training")
ax_curves.set_ylim(30, 100)
plt.show()

# %%
# What this short run does and does not show
# ------------------------------------------
#
# The numbers above come from 30 epochs and two seeds. The networks are still learning (right
# panel), a single seed moves a cell by several points, and the recipes differ: weights only
# learns with a rate of 0.02, the axonal and dendritic recipes with 0.005, the synaptic one with
# 0.01 (weights) and 0.003 (delays), so a short run favours the fast recipes. In this run synaptic
# delays come out ahead at both sizes, while at 15 hidden neurons weights only is as good as or
# better than axonal, dendritic and axonal+dendritic delays. Read it as a demonstration of the
# set-up, not as evidence about delays.
#
# The full study (the shipped study file ``delay_types``: hidden sizes 5 to 30, five placements, 300
# epochs, 3 seeds, about 15 minutes on two cores; :ref:`results-delay-types` in the user guide)
# finds, as the paper does, that synaptic delays help most in the smallest networks: at 4-5-3 the
# median test error is 5.0 % with synaptic delays against 11.5 % with weights only, and per
# parameter synaptic delays stay ahead (70 parameters: 4-5-3 synaptic 5.0 % against 4-10-3 weights
# only 7.0 %). Axonal and dendritic delays help less and less consistently, and from 20 hidden
# neurons on all placements lie within about two points of each other. To run it::
#
#     brian2-delgrad study delay_types
#
# or, from Python, ``run_study(load_study("delay_types"), "results/delay_types")``,
# which also writes the tables and the figure ``delay_types.png``. In a script, call it under
# ``if __name__ == "__main__":``: its dask cluster starts new Python processes, which import the
# script again.
