"""Running a study: every trial of the grid on dask.distributed, each result saved at once, tidy tables.

Layout of a study's output folder::

    trials/<trial>.csv        one file per finished trial, written atomically (the resume marker)
    parameters/<trial>.last.npz, .best.npz
                              the trained network at its last epoch and at its best validation epoch
    checkpoints/<trial>.npz   training checkpoint of an unfinished trial and its history log
    checkpoints/<trial>.npz.history.jsonl   (both deleted when it finishes)
    log.jsonl                 one line per finished trial: which run finished it, how long it took
                              ("kind": "evaluation": a saved network re-tested under new [evaluate] settings)
    results.csv / .parquet    all trials: one row per trial x epoch x split, plus test rows per noise condition
    summary.csv / .parquet    test accuracy per condition over seeds: median, quartiles, count
    stability.csv / .parquet  one row per trial: last and best epoch, their test accuracy, the spread of
                              validation accuracy over the last 50 epochs
"""
import contextlib
import importlib.util
import json
import logging
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from brian2 import second

from ..files.studyfile import Study
from ..substrates.noise import noise_in_units
from ..training.checkpoints import CheckpointError, history_log
from ..training.losses import predict_labels
from ..utils.notices import notice
from ..utils.settings import Setting
from ..utils.storage import atomic_write, only_writer, write_csv, write_json
from ..utils.threads import THREADS, check_threads, default_threads, get_num_threads
from .tables import quartiles, reported_selection, selections, stability

__all__ = ["run_trial", "evaluate_trial", "reevaluate_trial", "run_study", "collect", "summarize",
           "stability_table", "write_table", "StudyError", "CONDITION_COLUMNS", "SELECTIONS"]

#: Columns that define a condition of the summary (everything but the seed and the results).
CONDITION_COLUMNS = ["model", "placement", "profile", "hidden", "sizes", "n_parameters", "epochs", "tau_m_ms",
                     "tau_s_ms", "theta", "batch_size", "lr_weights_initial", "lr_delays_initial", "loss_function",
                     "train_spike_jitter", "train_delay_jitter", "train_threshold_noise", "selection", "noise",
                     "noise_level"]

#: The networks of a trial that are tested: its last epoch's and its best validation epoch's.
SELECTIONS = ("last", "best")
#: Worker processes of a local cluster (0: the trials run in the calling process).
WORKERS = Setting("workers", "integer", low=0, optional=True, doc="worker processes of the local cluster")


class StudyError(RuntimeError):
    """Some trials of a study failed; the others are saved."""


def run_trial(trial, checkpoint_dir=None):
    """Train one trial's network and evaluate it on the test split, clean and under noise.

    Parameters
    ----------
    trial : Trial
        One of ``study.trials`` (:func:`~brian2_delgrad.load_study`).
    checkpoint_dir : str or Path, optional
        Where the training checkpoint lives while the trial runs; a checkpoint
        left there by an interrupted run is continued (an unreadable one is
        renamed ``*.unreadable`` and the trial starts afresh). The caller
        deletes it once the result is saved.

    Returns
    -------
    table : pandas.DataFrame
        The trial's id (``trial``), the id of its evaluation settings
        (``evaluation``) and its configuration columns, then the training history (``split`` ``'train'``
        and ``'validation'``, ``noise`` ``'none'``: measured on the training
        substrate, i.e. under the training noise ``train_*``) and ``'test'`` rows of the
        network of each ``selection`` (``'last'`` epoch, ``'best'`` validation epoch):
        ``noise`` ``'none'`` (the profile's own noise only) and, for the
        network the recipe reports (``keep_best``: the best, else the last),
        one row per evaluation kind and level, ``accuracy`` and ``loss``
        averaged over ``repeats`` noise draws.
    nets : dict
        ``'last'`` and ``'best'``: the trained network at its last epoch and at its best validation epoch.
    """
    model_file, seed = trial.model_file, trial.seed
    extra = _extra_noise(model_file, trial.train_noise)
    net = model_file.network(seed=seed)
    substrate = model_file.substrate(seed=seed, extra_noise=extra)
    trainer = model_file.trainer(net, seed=seed, substrate=substrate, progress=False)
    checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / f"{trial.id}.npz"
    resume = checkpoint if checkpoint is not None and checkpoint.exists() else None
    try:
        history = trainer.fit(*model_file.data("train"), validation=model_file.data("validation"),
                              epochs=trial.epochs, checkpoint=checkpoint, resume=resume)
    except CheckpointError as err:                   # unreadable or damaged: keep it aside, start afresh
        _set_aside(checkpoint, str(err), trial)
        history = trainer.fit(*model_file.data("train"), validation=model_file.data("validation"),
                              epochs=trial.epochs, checkpoint=checkpoint)
    history = history.assign(noise="none", noise_level=0.0, repeats=1)
    selected = trainer.selected_networks()
    nets, epochs = ({s: selected[s][k] for s in SELECTIONS} for k in (1, 0))
    return _trial_table(trial, history, _test_rows(trial, nets, epochs)), nets


def _test_rows(trial, nets, epochs):
    """Test rows of both selections: the network the recipe reports under every condition, the other clean
    (the same network tested once when both epochs are one)."""
    reported = reported_selection(trial.model_file.training["keep_best"])
    tables = {}
    for selection in sorted(SELECTIONS, key=lambda s: s != reported):
        clean_only = selection != reported
        same = [s for s in tables if epochs[s] == epochs[selection]]
        table = tables[same[0]] if same else evaluate_trial(trial, nets[selection], epochs[selection], clean_only)
        tables[selection] = table[table.noise == "none"] if clean_only else table
        tables[selection] = tables[selection].assign(selection=selection)
    return pd.concat([tables[s] for s in SELECTIONS], ignore_index=True)


def evaluate_trial(trial, net, epoch, clean_only=False):
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
                                          pattern_seed=seed,
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


def _evaluation_substrate(model_file, kind, level, evaluation, n_samples, seed, pattern_seed):
    """The substrate of one condition: the trained network's "chip" (its threshold pattern), new trial noise,
    forward passes of the training batch size; Brian2 (all samples in one simulation) for membrane noise."""
    extra = _extra_noise(model_file, {} if kind == "none" else {kind: level})
    if kind == "membrane_noise":
        return model_file.substrate(target=evaluation.target, dt=evaluation.dt * second, seed=seed,
                                    extra_noise=extra, pattern_seed=pattern_seed, copies=n_samples)
    return model_file.substrate(seed=seed, extra_noise=extra, pattern_seed=pattern_seed)


def _accuracy_and_loss(substrate, net, model_file, inputs, labels):
    output = substrate.run(net, inputs)[-1]
    losses, _ = model_file.loss(output, labels, model_file.model.tau_s_)
    return float(np.mean(predict_labels(output) == labels)), float(np.mean(losses))


def run_study(study, out, workers=None, scheduler=None, progress=True, threads=None):
    """Run every unfinished trial of a study on dask.distributed and write the tables.

    Parameters
    ----------
    study : Study
        From :func:`~brian2_delgrad.files.studyfile.load_study`.
    out : str or Path
        Output folder (see the module docstring); trials already finished there are not run again.
    workers : int, optional
        Worker processes of the local cluster (default: one per core, at
        most one per unfinished trial); ``0``: no worker process, the trials
        run one after another in a thread of this process (a script needs no
        ``if __name__ == "__main__":`` guard then). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running dask scheduler (e.g. ``'tcp://10.0.0.1:8786'``)
        to use instead of a local cluster; its workers need this package and
        ``out`` at the same path (a shared file system): they keep the running
        trials' checkpoints in it and read saved trials to re-test them.
    progress : bool
        A progress bar over trials.
    threads : int, optional
        Threads of the compiled kernels per trial (:mod:`~brian2_delgrad.utils.threads`). Default: on a local
        cluster the cores shared out among the workers (at least one each), so that they do not compete;
        with a scheduler one, since its workers may run several trials at once (at most a worker's cores).

    Returns
    -------
    pandas.DataFrame
        The results table (as in ``results.csv``).

    Raises
    ------
    StudyError
        If some trials failed (after all others finished and were saved).
    FolderInUse
        If another run writes into ``out`` (:func:`~brian2_delgrad.utils.storage.only_writer`).
    """
    if not isinstance(study, Study):
        raise ValueError(f"study must be a Study from load_study(path), got {type(study).__name__}")
    workers = WORKERS.check(workers)
    out = Path(out)
    with only_writer(out, f"study {study.name}"):
        return _run_study(study, out, workers, scheduler, progress, threads)


def _run_study(study, out, workers, scheduler, progress, threads):
    """:func:`run_study` once the output folder is ours."""
    for folder in ("trials", "parameters", "checkpoints"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", dict(study=study.name, file=str(study.path), description=study.description,
                                        trials=[t.id for t in study.trials]))
    evaluations = {}                                  # the evaluation id of every checked saved table
    for trial in study.trials:
        table = _saved_table(out, trial)              # (damaged ones are set aside)
        if table is not None:
            evaluations[trial.id] = _evaluation_of(table)
    saved = {trial_id: out / "trials" / f"{trial_id}.csv" for trial_id in evaluations}
    trained = {trial.id for trial in study.trials if trial.id in saved and _saved_networks(out, trial)}
    pending = [trial for trial in study.trials if trial.id not in trained]
    stale = [trial for trial in study.trials if trial.id in trained     # new [evaluate]: test again
             and evaluations[trial.id] != trial.evaluation_id]
    failures = []
    if pending or stale:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(study.trials), initial=len(study.trials) - len(pending) - len(stale), desc=study.name,
                   unit="trial", disable=not progress)
        run = uuid.uuid4().hex[:12]
        workers = min(len(pending) + len(stale), _cores()) if workers is None else workers
        if scheduler is None:
            threads = check_threads(min(max(1, _cores() // max(workers, 1)), get_num_threads()) if threads is None
                                    else threads)
        else:                                          # a worker may run several tasks at once: one thread each
            threads = THREADS.check(1 if threads is None else threads)
        with _client(workers, scheduler) as client:
            from dask.distributed import as_completed

            checkpoints = str((out / "checkpoints").resolve())
            submitted = {client.submit(_timed, threads, run_trial, trial, checkpoints, key=trial.id): (trial, "training")
                         for trial in pending}
            submitted.update({client.submit(_timed, threads, _reevaluate_saved, trial, str(saved[trial.id].resolve()),
                                            {s: str(p.resolve()) for s, p in _parameters_paths(out, trial).items()},
                                            key=f"{trial.id}-evaluation"): (trial, "evaluation")
                              for trial in stale})
            for future in as_completed(submitted):
                trial, kind = submitted.pop(future)          # its result is freed once saved
                try:
                    (table, nets), seconds = future.result()
                except Exception as err:                 # one failed trial must not lose the others
                    failures.append(f"{trial.id}: {type(err).__name__}: {err}")
                else:
                    _save_trial(out, trial, table, nets, dict(trial=trial.id, run=run, seconds=round(seconds, 3),
                                                             **({} if kind == "training" else {"kind": kind})))
                bar.update(1)
        bar.close()
    results = collect(study, out)
    if failures:
        raise StudyError(f"{len(failures)} of {len(study.trials)} trials failed (the others are saved in "
                         f"{out}/trials; re-run to retry):\n" + "\n".join(failures))
    return results


def _timed(threads, function, *args):
    """``function(*args)`` on ``threads`` kernel threads (at most the worker's cores), and its duration."""
    with default_threads(threads):
        start = time.perf_counter()
        return function(*args), time.perf_counter() - start


def _reevaluate_saved(trial, table_path, parameters):
    return reevaluate_trial(trial, pd.read_csv(table_path), parameters), None


def _evaluation_of(table):
    """The evaluation id a saved trial table was tested with (``None`` for tables without one)."""
    return table["evaluation"].iloc[0] if "evaluation" in table else None


def _saved_table(out, trial):
    """The saved rows of a finished trial (``trials/<id>.csv``), ``None`` if there are none; a damaged file is set
    aside (``*.unreadable``) with a line saying so, and the trial runs again."""
    path = out / "trials" / f"{trial.id}.csv"
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, dtype={"evaluation": str})
        problem = _table_damage(table, trial)
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as err:   # EmptyDataError: a ValueError
        table, problem = None, f"not a readable table: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    if problem is None:
        return table
    _set_aside(path, f"{path}: damaged ({problem})", trial)
    return None


def _table_damage(table, trial):
    """What is missing or impossible in a trial's saved rows (str), or ``None``."""
    missing = sorted({"trial", "split", "epoch", "accuracy", "loss", "selection", "noise"} - set(table.columns))
    if missing:
        return f"no column {missing[0]!r}"
    if not (table.trial == trial.id).all():
        return "rows of another trial"
    for split, first in (("train", 1), ("validation", 0)):
        epochs = table.loc[table.split == split, "epoch"].tolist()
        if epochs != list(range(first, trial.epochs + 1)):
            return f"its {split} epochs are not {first} ... {trial.epochs}"
    test = table[(table.split == "test") & (table.noise == "none")]
    if sorted(test.selection.astype(str)) != sorted(SELECTIONS):           # a cut last row: NaN, 'nan'
        return "its test rows of the last and the best epoch are missing"
    accuracy = pd.to_numeric(table.accuracy, errors="coerce")
    if not accuracy.between(0, 1).all():
        return "an accuracy that is not a number in [0, 1]"
    return None


def _saved_networks(out, trial):
    """Whether both trained networks of a trial are saved and readable (a damaged one is set aside)."""
    from ..utils.storage import ArchiveError, read_archive

    for path in _parameters_paths(out, trial).values():
        if not path.exists():
            return False
        try:
            read_archive(path, "network")
        except ArchiveError as err:
            _set_aside(path, str(err), trial)
            return False
    return True


def _set_aside(path, what, trial):
    """Rename a damaged file of ``trial`` to ``<name>.unreadable`` and say so in one line (``what``: the damage)."""
    aside = path.with_name(path.name + ".unreadable")
    os.replace(path, aside)
    notice(f"{what}: set aside as {aside.name}; {trial.id} runs again")


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def _client(workers, scheduler):
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=workers > 0, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        if workers > 0:
            client.register_plugin(_ignore_interrupts())
        yield client


def _ignore_interrupts():
    """A dask worker plugin: the local workers ignore Ctrl-C, which reaches the whole process group; the calling
    process stops the study and closes them (they would print tracebacks otherwise)."""
    from dask.distributed import WorkerPlugin

    class IgnoreInterrupts(WorkerPlugin):
        name = "brian2-delgrad-ignore-interrupts"

        def setup(self, worker):
            import signal

            import brian2  # noqa: F401  (it installs a SIGINT handler of its own on import: import it first)

            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreInterrupts()


def _parameters_paths(out, trial):
    """Where a study folder keeps a trial's trained networks: selection -> path."""
    return {selection: out / "parameters" / f"{trial.id}.{selection}.npz" for selection in SELECTIONS}


def _save_trial(out, trial, table, nets, log_entry):
    """Parameters (``nets``, selection -> network; ``None``: kept), then the table (atomically: it marks the trial
    as finished), the log, and the checkpoint goes."""
    if nets is not None:
        for selection, path in _parameters_paths(out, trial).items():
            nets[selection].save(path)
    write_csv(table, out / "trials" / f"{trial.id}.csv")
    with open(out / "log.jsonl", "a") as log:
        log.write(json.dumps(log_entry) + "\n")
    checkpoint = out / "checkpoints" / f"{trial.id}.npz"
    checkpoint.unlink(missing_ok=True)
    history_log(checkpoint).unlink(missing_ok=True)


def collect(study, out):
    """Gather the finished trials of ``study`` in ``out`` into ``results``, ``summary`` and ``stability`` tables.

    Writes ``results.csv``, ``summary.csv`` (:func:`summarize`) and
    ``stability.csv`` (``stability_table``), and ``.parquet`` copies when
    pyarrow is installed; trials not finished yet are simply absent (no
    finished trial: nothing is written), and so are test rows made under
    other ``[evaluate]`` settings (a re-test that failed).

    Parameters
    ----------
    study : Study
        From :func:`~brian2_delgrad.load_study`.
    out : str or Path
        The study's output folder, as :func:`~brian2_delgrad.run_study` writes it.

    Returns
    -------
    pandas.DataFrame
        The results table (as in ``results.csv``): one row per trial x epoch x
        split, plus the test rows; empty if no trial has finished.
    """
    out = Path(out)
    tables = []
    for trial in study.trials:
        table = _saved_table(out, trial)              # only whole, checked trial tables
        if table is not None:
            stale = (table.split == "test") & (table.get("evaluation") != trial.evaluation_id)
            tables.append(table[~stale])              # test rows of other [evaluate] settings (a failed re-test)
    if not tables:
        return pd.DataFrame()
    results = pd.concat(tables, ignore_index=True)
    write_table(results, out / "results")
    write_table(summarize(results), out / "summary")
    write_table(stability_table(results), out / "stability")
    return results


def summarize(results):
    """Test accuracy per condition over seeds: ``median``, ``q25``, ``q75``, ``count`` (one row per condition).

    Parameters
    ----------
    results : pandas.DataFrame
        As returned by :func:`~brian2_delgrad.run_study` (rows with ``split == 'test'`` are used).

    Returns
    -------
    pandas.DataFrame
        The columns of ``CONDITION_COLUMNS`` that ``results`` has, then
        ``median``, ``q25``, ``q75`` and ``count`` of the test ``accuracy``
        (:func:`~brian2_delgrad.experiments.tables.quartiles`; ``n_parameters``, which can
        differ between seeds, as its median); empty for empty ``results``.
    """
    if results.empty:
        return pd.DataFrame()
    test = results[results.split == "test"]
    return quartiles(test, [c for c in CONDITION_COLUMNS if c in test.columns])


def stability_table(results):
    """One row per trial: its last and best epoch, their noise-free test accuracy and the calm of its training.

    Parameters
    ----------
    results : pandas.DataFrame
        As returned by :func:`run_study`.

    Returns
    -------
    pandas.DataFrame
        ``trial``, the configuration columns, ``seed``, ``last_epoch``,
        ``best_epoch``, ``test_accuracy_last``, ``test_accuracy_best``
        (``noise == 'none'``: the profile's own noise only), and
        ``validation_std``, ``validation_range``, ``validation_mean``,
        ``stability_epochs`` (:func:`~brian2_delgrad.experiments.tables.stability`:
        validation accuracy over the last 50 epochs).
    """
    if results.empty:
        return pd.DataFrame()
    keys = ["trial"] + [c for c in CONDITION_COLUMNS if c in results.columns
                        and c not in ("selection", "noise", "noise_level")] + ["seed"]
    rows = []
    results = results.assign(selection=selections(results))
    for _, table in results.groupby("trial", sort=False):
        test = table[(table.split == "test") & (table.noise == "none")]
        row = table.iloc[0][keys].to_dict()
        for selection in SELECTIONS:
            chosen = test[test.selection == selection]
            row[f"{selection}_epoch"] = int(chosen.epoch.iloc[0]) if len(chosen) else np.nan
            row[f"test_accuracy_{selection}"] = float(chosen.accuracy.iloc[0]) if len(chosen) else np.nan
        rows.append(dict(row, **stability(table[table.split == "validation"])))
    return pd.DataFrame(rows)


def write_table(table, stem):
    """``stem.csv`` and, with pyarrow, ``stem.parquet``, each written atomically."""
    write_csv(table, stem.with_suffix(".csv"))
    if importlib.util.find_spec("pyarrow") is not None:      # Parquet copies are optional
        atomic_write(stem.with_suffix(".parquet"), lambda handle: table.to_parquet(handle, index=False), binary=True)
