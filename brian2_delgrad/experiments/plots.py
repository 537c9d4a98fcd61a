"""Figures: PNG files drawn from tidy tables (matplotlib; no display needed, the backend is left alone)."""
from pathlib import Path

import matplotlib
import matplotlib.ticker
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..substrates.noise import NOISE_KINDS
from ..utils.storage import atomic_write, write_csv
from .tables import STABILITY_WINDOW, quartiles, reported_selection, selections, stability

__all__ = ["plot_training", "plot_study"]


def plot_training(history, path=None, title="", n_classes=3):
    """Loss and accuracy against epoch for each split of a training history.

    Parameters
    ----------
    history : pandas.DataFrame
        As returned by :meth:`Trainer.fit <brian2_delgrad.training.trainer.Trainer.fit>`.
    path : str or Path, optional
        PNG file to write; ``None``: a pyplot figure, to show or save yourself.
    title : str
        Title of the figure.
    n_classes : int
        For the chance level.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = new_figure(path, figsize=(9, 3.5))
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    for split, rows in history.groupby("split", sort=False):
        loss_axis.plot(rows.epoch, rows.loss, label=split)
        accuracy_axis.plot(rows.epoch, 100 * rows.accuracy, label=split)
    loss_axis.set(xlabel="epoch", ylabel="loss", yscale="log")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(min(30, 90 / n_classes), 100))
    accuracy_axis.axhline(100 / n_classes, color="0.7", lw=0.8, ls=":", label="chance")
    accuracy_axis.legend(loc="lower right")
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_study(results, folder):
    """Every figure a study's results support, each as ``NAME.png`` with the table behind it as ``NAME.csv``.

    ``delay_types``: test error against hidden size and against the number of
    parameters per placement (needs several hidden sizes); ``validation``:
    validation accuracy against epoch; ``noise``: test accuracy against the
    noise level per placement and kind (needs ``[evaluate]`` rows);
    ``hardware``: under a hardware profile, test accuracy per trial at the
    last and at the best validation epoch, the validation curves and their
    spread over the last epochs (:func:`~brian2_delgrad.experiments.tables.stability`).
    Lines are medians over seeds, bands the quartiles. The other figures show the
    network each recipe reports (``keep_best``: best validation epoch, else
    the last).

    Parameters
    ----------
    results : pandas.DataFrame
        The results table of :func:`~brian2_delgrad.experiments.study.run_study` (``results.csv``).
    folder : str or Path
        Where the figures and tables are written (an existing folder).

    Returns
    -------
    list of Path
        The PNG files written.
    """
    folder = Path(folder)
    if results.empty:
        return []
    results = results.assign(condition=_condition_labels(results), selection=selections(results))
    trained_clean = np.all([results[c] == 0 for c in results.columns if c.startswith("train_")], axis=0)
    clean = results[(results.noise == "none") & trained_clean]
    reported = _reported(results[results.split == "test"])
    written = []
    for name, draw, rows in (("delay_types", _delay_types, _reported(clean[clean.split == "test"])),
                             ("validation", _validation, results[results.split == "validation"]),
                             ("noise", _noise, reported[reported.noise != "none"]),
                             ("hardware", _hardware, clean[clean.profile != "ideal"])):
        table = draw(rows, folder / f"{name}.png") if not rows.empty else None
        if table is not None:
            write_csv(table, folder / f"{name}.csv")
            written.append(folder / f"{name}.png")
    return written


def _reported(test):
    """The test rows of the network each recipe reports: its best validation epoch's if it keeps the best,
    else its last epoch's."""
    return test[test.selection == reported_selection(test["keep_best"] if "keep_best" in test.columns else True)]


def _condition_labels(results):
    """Placement label plus the training noise where there was one (the condition of a trial)."""
    placements, training = _placement_labels(results), _training_labels(results)
    return placements.where(training == "trained noise-free", placements + ", " + training)


def _placement_labels(results):
    """``placement`` ('weights only' for none) plus the profile where it is not the ideal one."""
    labels = results.placement.astype(str).replace({"none": "weights only"})
    return labels.where(results.profile == "ideal", labels + " (" + results.profile.astype(str) + ")")


def _training_labels(results):
    """'trained noise-free' or 'trained with <noise> <level>, ...' per row."""
    parts = [np.where(results[column] > 0, column.removeprefix("train_").replace("_", " ") + " "
                      + results[column].map("{:g}".format), "")
             for column in results.columns if column.startswith("train_")]
    joined = [", ".join(p for p in row if p) for row in zip(*parts)] if parts else [""] * len(results)
    return pd.Series(["trained with " + text if text else "trained noise-free" for text in joined],
                     index=results.index)


def _band(axis, table, x, label, scale=100.0, **style):
    marker = "o" if len(table) <= 30 else None
    line, = axis.plot(table[x], scale * table["median"], marker=marker, ms=3, label=label, **style)
    axis.fill_between(table[x], scale * table["q25"], scale * table["q75"], color=line.get_color(), alpha=0.2, lw=0)


def _delay_types(rows, path):
    if rows.hidden.nunique() < 2:
        return None
    rows = rows.assign(error=1.0 - rows.accuracy)
    table = quartiles(rows, ["condition", "hidden", "n_parameters"], "error")
    figure = new_figure(path, figsize=(10, 4))
    axes = figure.subplots(1, 2, sharey=True)
    for condition, lines in table.groupby("condition", sort=True):
        for axis, x in zip(axes, ("hidden", "n_parameters")):
            _band(axis, lines.sort_values(x), x, condition)
    axes[0].set(xlabel="hidden neurons", ylabel="test error (%)")
    axes[1].set(xlabel="parameters (weights + delays)")
    if table.n_parameters.max() > 8 * table.n_parameters.min():
        axes[1].set_xscale("log")
        axes[1].xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axes[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0].legend(title="delays")
    figure.suptitle("Test error per delay placement (median over seeds, quartile band)")
    save_figure(figure, path)
    return table


def _validation(rows, path):
    table = quartiles(rows, ["sizes", "condition", "epoch"])
    panels = sorted(table.sizes.unique(), key=lambda s: [int(v) for v in s.split("-")])
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = new_figure(path, figsize=(3.8 * columns + 0.8, 3.2 * rows + 0.3))
    axes = figure.subplots(rows, columns, sharey=True, squeeze=False)
    for axis, sizes in zip(axes.flat, panels):
        for condition, lines in table[table.sizes == sizes].groupby("condition", sort=True):
            _band(axis, lines, "epoch", condition)
        axis.set(title=sizes, xlabel="epoch")
    for axis in axes.flat[len(panels):]:
        axis.set_visible(False)
    bottom = max(30.0, 10 * np.floor(10 * table.loc[table.epoch >= table.epoch.max() / 10, "q25"].min()))
    for axis in axes[:, 0]:
        axis.set(ylabel="validation accuracy (%)", ylim=(bottom, 100))
    axes[0, 0].legend(loc="lower right", fontsize="small")
    figure.suptitle("Validation accuracy (median over seeds, quartile band)")
    save_figure(figure, path)
    return table


def _noise(rows, path):
    """One panel per (training condition, noise kind); a line per placement (and network size)."""
    rows = rows.assign(placement_label=_placement_labels(rows), training=_training_labels(rows))
    table = quartiles(rows, ["noise", "sizes", "training", "placement_label", "noise_level"])
    kinds = sorted(table.noise.unique())
    trainings = sorted(table.training.unique(), key=lambda t: (t != "trained noise-free", t))
    figure = new_figure(path, figsize=(4 * len(kinds) + 0.8, 3 * len(trainings) + 0.8))
    axes = figure.subplots(len(trainings), len(kinds), sharex="col", sharey=True, squeeze=False)
    colours = {c: f"C{i}" for i, c in enumerate(sorted(table.placement_label.unique()))}
    dashes = {s: style for s, style in zip(sorted(table.sizes.unique()), ("-", "--", ":", "-."))}
    for row, training in zip(axes, trainings):
        for axis, kind in zip(row, kinds):
            panel = table[(table.noise == kind) & (table.training == training)]
            for (sizes, placement), lines in panel.groupby(["sizes", "placement_label"], sort=True):
                _band(axis, lines.sort_values("noise_level"), "noise_level",
                      placement if len(dashes) == 1 else f"{sizes} {placement}", color=colours[placement],
                      ls=dashes.get(sizes, "-"))
            axis.set_title(training, fontsize="medium")
            axis.grid(alpha=0.3)
        row[0].set(ylabel="test accuracy (%)")
    for axis, kind in zip(axes[-1], kinds):
        axis.set(xlabel=f"{kind.replace('_', ' ')} (std, units of {NOISE_KINDS[kind][1] if kind in NOISE_KINDS else '?'})")
    legend = {}                                      # every line's label once, from whichever panel has it
    for axis in axes.flat:
        legend.update(zip(*reversed(axis.get_legend_handles_labels())))
    figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=min(len(legend), 5))
    figure.suptitle("Test accuracy under noise (median over seeds, quartile band)")
    save_figure(figure, path)
    return table


def _hardware(rows, path):
    """Test accuracy of every trial at its last and its best validation epoch, per placement; the validation curves
    (a thin line per trial, the median thick); and how much validation accuracy moved over the last epochs."""
    test, validation = rows[rows.split == "test"], rows[rows.split == "validation"]
    if test.empty:
        return None
    table = quartiles(test, ["profile", "condition", "selection"])
    order = sorted(test.condition.unique(), key=lambda c: (not c.startswith("weights only"), c))
    figure = new_figure(path, figsize=(14, 4))
    left, middle, right = figure.subplots(1, 3, gridspec_kw=dict(width_ratios=(1, 1.6, 0.8)))
    styles = dict(last=dict(marker="o", color="0.25"), best=dict(marker="o", facecolor="none", edgecolor="C0"))
    calm = []
    for position, condition in enumerate(order):
        group = test[test.condition == condition]
        for offset, selection in ((-0.12, "last"), (0.12, "best")):
            chosen = group[group.selection == selection]
            left.scatter(np.full(len(chosen), position + offset), 100 * chosen.accuracy, s=18, zorder=3,
                         label=f"{selection} epoch, per trial" if position == 0 else None, **styles[selection])
            median = table.loc[(table.condition == condition) & (table.selection == selection), "median"]
            left.hlines(100 * median, position + offset - 0.1, position + offset + 0.1, color="C3", lw=2,
                        label="median" if position == 0 and selection == "last" else None)
        last, best = (group[group.selection == s].set_index("trial").accuracy for s in ("last", "best"))
        for trial in last.index.intersection(best.index):
            left.plot([position - 0.12, position + 0.12], [100 * last[trial], 100 * best[trial]], color="0.8",
                      lw=0.8, zorder=1)
        curves = validation[validation.condition == condition]
        for trial, trial_rows in curves.groupby("trial"):
            middle.plot(trial_rows.epoch, 100 * trial_rows.accuracy, color=f"C{position}", lw=0.5, alpha=0.45)
            spread = stability(trial_rows)
            calm.append(dict(condition=condition, trial=trial, **spread))
        median_curve = curves.groupby("epoch").accuracy.median()
        middle.plot(median_curve.index, 100 * median_curve.to_numpy(), color=f"C{position}", lw=1.8,
                    label=f"{condition} (median)")
    left.set_xticks(range(len(order)), order, rotation=10)
    left.set(ylabel="test accuracy (%)", title="Test accuracy: last vs best validation epoch")
    left.legend(fontsize="small", loc="lower right")
    if not validation.empty:
        low = np.nanpercentile(100 * validation.loc[validation.epoch >= validation.epoch.max() / 10, "accuracy"], 1)
        middle.set(ylim=(max(30.0, 5 * np.floor(low / 5)), 100))
        middle.legend(fontsize="small", loc="lower right")
    middle.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy (thin: one trial)")
    calm = pd.DataFrame(calm)
    for position, condition in enumerate(order):
        spread = calm[calm.condition == condition] if not calm.empty else calm
        if spread.empty:
            continue
        for offset, (column, marker) in ((-0.12, ("validation_std", "o")), (0.12, ("validation_range", "s"))):
            right.scatter(np.full(len(spread), position + offset), 100 * spread[column], marker=marker, s=18,
                          color=f"C{position}", label=None)
    right.scatter([], [], marker="o", color="0.4", label="standard deviation")
    right.scatter([], [], marker="s", color="0.4", label="range (max - min)")
    right.set_xticks(range(len(order)), [c.split(" (")[0] for c in order], rotation=10)
    right.set(ylabel="validation accuracy, points", ylim=(0, None),
              title=f"Spread over the last {STABILITY_WINDOW} epochs")
    right.legend(fontsize="small")
    save_figure(figure, path)
    return table


def new_figure(path, figsize=None):
    """A figure with constrained layout: pyplot's when ``path`` is ``None`` (shown in notebooks and
    galleries), else one that pyplot never sees (no backend, safe in worker threads)."""
    if path is None:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    return Figure(figsize=figsize, layout="constrained")


def save_figure(figure, path):
    """Write ``figure`` as a PNG to ``path`` atomically (nothing if ``path`` is ``None``); return it."""
    if path is not None:
        atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=120), binary=True)
    return figure
