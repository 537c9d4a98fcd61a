"""One trial: train a model file's network for a seed, then test its last and best networks.

``brian2-delgrad train`` and every trial of a study run through :func:`run_trial`:
one rule for resuming (a checkpoint is continued, a damaged one set aside) and
one for the noise of the tests (the trained "chip"'s threshold pattern, new
trial-to-trial draws per condition, seeded by the trial's seed and the
condition). Each caller writes what it keeps (``train``: a folder per run;
a study: one table per trial, :mod:`~brian2_delgrad.experiments.study`).
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from brian2 import second

from ..substrates.noise import noise_in_units
from ..training.checkpoints import DamagedCheckpoint, history_log
from ..training.losses import predict_labels
from ..utils.notices import notice
from .tables import reported_selection

__all__ = ["run_trial", "TrialRun", "evaluate_trial", "reevaluate_trial", "set_aside", "SELECTIONS"]

#: The networks of a trial that are tested: its last epoch's and its best validation epoch's.
SELECTIONS = ("last", "best")


@dataclass
class TrialRun:
    """One trial, run: what :func:`run_trial` gives.

    Parameters
    ----------
    table : pandas.DataFrame
        The trial's id, evaluation id and configuration columns, then its
        training history and test rows (see :func:`run_trial`).
    nets : dict
        ``'last'`` and ``'best'``: the trained network at its last epoch and at its best validation epoch.
    history : pandas.DataFrame
        The training history as :meth:`Trainer.fit <brian2_delgrad.training.trainer.Trainer.fit>` gives it.
    trainer : Trainer
        The fitted trainer (its ``net`` holds the parameters it ended with).
    """

    table: pd.DataFrame
    nets: dict
    history: pd.DataFrame
    trainer: object


def run_trial(trial, checkpoint=None, substrate_options=None, progress=False):
    """Train one trial's network and test its last and best networks on the test split, clean and under noise.

    The one trial of the package: ``brian2-delgrad train`` and every trial of
    a study run through it, with one rule for resuming and one for the noise
    of the tests.

    Parameters
    ----------
    trial : Trial
        One of ``study.trials`` (:func:`~brian2_delgrad.load_study`), or a
        model file's (:func:`~brian2_delgrad.files.studyfile.make_trial`).
    checkpoint : str or Path, optional
        The training checkpoint, written every epoch. One left there by an
        interrupted run is continued; an unreadable or damaged one is set
        aside as ``<name>.unreadable`` (one line says so) and the training
        starts afresh.
    substrate_options : dict, optional
        ``target`` (a registered substrate; default the exact one) and its own
        options (``dt``, ``timing``): where the training and the clean tests run.
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    TrialRun
        Its ``table``: the training history (``split`` ``'train'`` and
        ``'validation'``, ``noise`` ``'none'``: measured on the training
        substrate, i.e. under the training noise ``train_*``) and ``'test'``
        rows of the network of each ``selection`` (``'last'`` epoch, ``'best'``
        validation epoch): ``noise`` ``'none'`` (the profile's own noise
        only, new trial-to-trial draws on the trained "chip"'s threshold
        pattern) and, for the network the recipe reports (``keep_best``: the
        best, else the last), one row per evaluation kind and level,
        ``accuracy`` and ``loss`` averaged over ``repeats`` noise draws.
    """
    model_file, seed = trial.model_file, trial.seed
    options = dict(substrate_options or {})
    substrate = model_file.substrate(seed=seed, extra_noise=_extra_noise(model_file, trial.train_noise), **options)
    trainer = model_file.trainer(model_file.network(seed=seed), seed=seed, substrate=substrate, progress=progress)
    checkpoint = None if checkpoint is None else Path(checkpoint)
    fit = dict(validation=model_file.data("validation"), epochs=trial.epochs, checkpoint=checkpoint)
    try:
        history = trainer.fit(*model_file.data("train"), **fit,
                              resume=checkpoint if checkpoint is not None and checkpoint.exists() else None)
    except DamagedCheckpoint as err:                 # unreadable or damaged: keep it aside, start afresh
        set_aside(checkpoint, str(err), "the training starts again", history_log(checkpoint))
        history = trainer.fit(*model_file.data("train"), **fit)
    selected = trainer.selected_networks()
    nets, epochs = ({s: selected[s][k] for s in SELECTIONS} for k in (1, 0))
    table = _trial_table(trial, history.assign(noise="none", noise_level=0.0, repeats=1),
                         _test_rows(trial, nets, epochs, options))
    return TrialRun(table, nets, history, trainer)


def _test_rows(trial, nets, epochs, substrate_options=None):
    """Test rows of both selections: the network the recipe reports under every condition, the other clean
    (the same network tested once when both epochs are one)."""
    reported = reported_selection(trial.model_file.training["keep_best"])
    tables = {}
    for selection in sorted(SELECTIONS, key=lambda s: s != reported):
        clean_only = selection != reported
        same = [s for s in tables if epochs[s] == epochs[selection]]
        table = tables[same[0]] if same else evaluate_trial(trial, nets[selection], epochs[selection], clean_only,
                                                            substrate_options)
        tables[selection] = table[table.noise == "none"] if clean_only else table
        tables[selection] = tables[selection].assign(selection=selection)
    return pd.concat([tables[s] for s in SELECTIONS], ignore_index=True)


def evaluate_trial(trial, net, epoch, clean_only=False, substrate_options=None):
    """Test rows of a trained network: clean (the profile's own noise only) and per ``[evaluate]`` condition.

    Parameters
    ----------
    trial : Trial
    net : DelayNetwork
        One of the trial's trained networks.
    epoch : int
        The epoch it comes from (the rows' ``epoch``).
    clean_only : bool
        Only the clean condition.
    substrate_options : dict, optional
        ``target`` and options of the substrate of every condition but membrane
        noise (which runs on the ``[evaluate]`` section's Brian2 target).

    Returns
    -------
    pandas.DataFrame
        ``split`` ``'test'``, ``noise``, ``noise_level``, ``repeats`` and
        ``accuracy`` and ``loss`` averaged over the noise draws. Every
        condition draws its noise from ``(seed, condition index)``, on the
        network's own threshold pattern.
    """
    model_file, seed = trial.model_file, trial.seed
    test = model_file.data("test")
    noisy_profile = not model_file.noise().is_ideal
    conditions = [("none", 0.0)] + [(kind, level) for kind, levels in
                                    (trial.evaluation.levels.items() if trial.evaluation else []) for level in levels]
    if clean_only:
        conditions = conditions[:1]
    rows = []
    for index, (kind, level) in enumerate(conditions):
        repeats = trial.evaluation.repeats if trial.evaluation and (noisy_profile or level > 0) else 1
        substrate = _evaluation_substrate(model_file, kind, level, trial.evaluation, len(test[1]),
                                          pattern_seed=seed, options=substrate_options or {},
                                          seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
        accuracy, loss = np.mean([_accuracy_and_loss(substrate, net, model_file, *test) for _ in range(repeats)],
                                 axis=0)
        rows.append(dict(epoch=epoch, split="test", loss=loss, accuracy=accuracy, noise=kind,
                         noise_level=level, repeats=repeats))
    return pd.DataFrame(rows)


def _trial_table(trial, history, test):
    """History and test rows, with the trial's id, evaluation id and configuration columns in front."""
    table = pd.concat([history, test], ignore_index=True)
    for position, (name, value) in enumerate(dict(trial=trial.id, evaluation=trial.evaluation_id,
                                                  **trial.columns).items()):
        table.insert(position, name, value)
    return table


def reevaluate_trial(trial, table, parameters):
    """A saved trial's table with its test rows made again under ``trial.evaluation`` (no training).

    Parameters
    ----------
    trial : Trial
    table : pandas.DataFrame
        The trial's saved rows (``trials/<id>.csv``).
    parameters : dict
        Selection (``'last'``, ``'best'``) -> path of its trained network (``parameters/<id>.<selection>.npz``).
    """
    from ..core.network import DelayNetwork

    history = table[table.split != "test"].drop(columns=["trial", "evaluation", "selection", *trial.columns],
                                                errors="ignore")
    test = table[table.split == "test"]
    epochs = {s: int(test.loc[test.selection == s, "epoch"].iloc[0]) for s in SELECTIONS}
    nets = {s: DelayNetwork.load(parameters[s]) for s in SELECTIONS}
    return _trial_table(trial, history, _test_rows(trial, nets, epochs))


def _extra_noise(model_file, levels):
    """The :class:`~brian2_delgrad.substrates.Noise` of ``{kind: level}`` for a model file's neurons."""
    return noise_in_units(levels, model_file.model.tau_s_, model_file.model.theta)


def _evaluation_substrate(model_file, kind, level, evaluation, n_samples, seed, pattern_seed, options):
    """The substrate of one condition: the trained network's "chip" (its threshold pattern), new trial noise,
    forward passes of the training batch size; Brian2 (all samples in one simulation) for membrane noise."""
    extra = _extra_noise(model_file, {} if kind == "none" else {kind: level})
    if kind == "membrane_noise":
        return model_file.substrate(target=evaluation.target, dt=evaluation.dt * second, seed=seed,
                                    extra_noise=extra, pattern_seed=pattern_seed, copies=n_samples)
    return model_file.substrate(seed=seed, extra_noise=extra, pattern_seed=pattern_seed, **options)


def _accuracy_and_loss(substrate, net, model_file, inputs, labels):
    output = substrate.run(net, inputs)[-1]
    losses, _ = model_file.loss(output, labels, model_file.model.tau_s_)
    return float(np.mean(predict_labels(output) == labels)), float(np.mean(losses))


def set_aside(path, what, then, companion=None):
    """Rename a damaged file to ``<name>.unreadable`` and say so in one line: ``what`` (the damage), ``then`` (what
    happens next); a ``companion`` file that belongs to it (a checkpoint's history log) goes with it, renamed
    ``<name>.unreadable<its suffix>``."""
    aside = path.with_name(path.name + ".unreadable")
    if companion is not None and companion.exists():
        os.replace(companion, aside.with_name(aside.name + companion.name[len(path.name):]))
    os.replace(path, aside)
    notice(f"{what}: set aside as {aside.name}; {then}")
