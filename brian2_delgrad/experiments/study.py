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

from ..files.studyfile import Study
from ..training.checkpoints import history_log
from ..utils.settings import Setting
from ..utils.storage import atomic_write, only_writer, write_csv, write_json
from ..utils.threads import THREADS, check_threads, default_threads, get_num_threads
from .tables import quartiles, selections, stability
from .trial import SELECTIONS, reevaluate_trial, run_trial, set_aside

__all__ = ["run_study", "collect", "summarize", "stability_table", "write_table", "StudyError", "CONDITION_COLUMNS"]

#: Columns that define a condition of the summary (everything but the seed and the results).
CONDITION_COLUMNS = ["model", "placement", "profile", "hidden", "sizes", "n_parameters", "epochs", "tau_m_ms",
                     "tau_s_ms", "theta", "batch_size", "lr_weights_initial", "lr_delays_initial", "loss_function",
                     "train_spike_jitter", "train_delay_jitter", "train_threshold_noise", "selection", "noise",
                     "noise_level"]

WORKERS = Setting("workers", "integer", low=0, optional=True, doc="worker processes of the local cluster")


class StudyError(RuntimeError):
    """Some trials of a study failed; the others are saved."""


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
            submitted = {client.submit(_timed, threads, _train_trial, trial, checkpoints, key=trial.id):
                         (trial, "training") for trial in pending}
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


def _train_trial(trial, checkpoints):
    """A trial on a worker: its table and networks (the trainer stays there); its checkpoint in ``checkpoints``."""
    run = run_trial(trial, Path(checkpoints) / f"{trial.id}.npz")
    return run.table, run.nets


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
    set_aside(path, f"{path}: damaged ({problem})", f"{trial.id} runs again")
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
            set_aside(path, str(err), f"{trial.id} runs again")
            return False
    return True


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
