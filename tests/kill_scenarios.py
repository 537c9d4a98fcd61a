"""Kill-and-resume scenarios for tests/test_reliability.py, run in a fresh process:
``python tests/kill_scenarios.py FOLDER`` (a training, then a study).

The process compiles the kernels once, then forks every run (an uninterrupted one, 20 SIGKILLed at random
moments, each resuming the last, and a final one) and compares the results bit for bit; it fails with an
AssertionError. Forking from a fresh process keeps the runs clear of threads (dask's, tqdm's) that an earlier
test would leave behind: a forked child has none of them, and would wait on them for ever.
"""
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tqdm

from brian2_delgrad import DelayNetwork, load_study, run_study
from brian2_delgrad.training.checkpoints import load_checkpoint
from brian2_delgrad.cli import main

KILLS = 20
tqdm.tqdm.monitor_interval = 0                       # no tqdm monitor thread in the process that forks


def forked(run):
    """Start ``run()`` in a forked child (its output discarded); the child's pid."""
    child = os.fork()
    if child == 0:
        code = 1
        try:
            sys.stdout = sys.stderr = open(os.devnull, "w")
            run()
            code = 0
        finally:
            os._exit(code)
    return child


def finished(run):
    """Run ``run()`` in a forked child to its end; its exit code."""
    return os.waitstatus_to_exitcode(os.waitpid(forked(run), 0)[1])


def killed_at_random_moments(run, longest, seed, state, ascending=False, shortest=0.0):
    """``KILLS`` times: fork ``run()``, SIGKILL it after a random delay in (``shortest``, ``longest``] s (in ascending
    order with ``ascending``); ``state()`` after each."""
    rng, seen = random.Random(seed), []
    delays = [rng.uniform(shortest, longest) for _ in range(KILLS)]
    for delay in sorted(delays) if ascending else delays:
        child = forked(run)
        time.sleep(delay)
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        seen.append(state())
    return seen


def timed(run, appears=None):
    """Seconds of ``run()`` (in a forked child) to its end, and with ``appears`` (a callable) until it first returned
    true (``None`` without)."""
    start, child, first = time.monotonic(), forked(run), None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if first is None and appears is not None and appears():
            first = time.monotonic() - start
        if pid:
            break
        time.sleep(0.001)
    assert os.waitstatus_to_exitcode(status) == 0
    return time.monotonic() - start, first


def train(folder):
    args = ["train", "yinyang_h5_ws", "--epochs", "40", "--seed", "5", "--quiet"]
    duration, first = timed(lambda: main([*args, "--out", str(folder / "straight")]),
                            appears=(folder / "straight" / "checkpoint.npz").exists)
    one_epoch, _ = timed(lambda: main([*args[:2], "--epochs", "1", *args[4:], "--out", str(folder / "one")]))
    killed = folder / "killed"
    # Each run resumes where the last was killed: a kill must come after a run's fixed cost and first epoch (the
    # first checkpoint, timed) and early enough that many land mid-run, about an eighth of the epochs' time later
    # (the straight run less a one-epoch run, which also tests and draws the figure). Measured, not fixed, so that
    # it holds on a loaded machine and for any speed of an epoch (fixed fractions of the straight run killed every
    # run before its first epoch, or let the third run finish all 40 epochs).
    epochs = killed_at_random_moments(lambda: main([*args, "--out", str(killed)]),
                                      first + (duration - one_epoch) / 8, seed=1, shortest=first,
                                      state=lambda: load_checkpoint(killed / "checkpoint.npz").epoch
                                      if (killed / "checkpoint.npz").exists() else 0)
    assert len({e for e in epochs if 0 < e < 40}) >= 3, epochs
    assert finished(lambda: main([*args, "--out", str(killed)])) == 0
    with np.load(killed / "parameters.npz") as a, np.load(folder / "straight" / "parameters.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[key], b[key]) for key in a.files)
    pd.testing.assert_frame_equal(pd.read_csv(killed / "history.csv").drop(columns="wall_time"),
                                  pd.read_csv(folder / "straight" / "history.csv").drop(columns="wall_time"))
    assert not [p for p in killed.iterdir() if p.suffix == ".tmp"]
    print(f"kills landed mid-run at checkpoint epochs {epochs}")


def study(folder):
    (folder / "s.toml").write_text('[grid]\nmodels = ["yinyang_h5_ws"]\nseeds = [0, 1]\nepochs = 4\n'
                                   '[evaluate]\nspike_jitter = [0.05]\nrepeats = 1\n')
    grid = load_study(folder / "s.toml")
    _, first = timed(lambda: run_study(grid, folder / "straight", workers=0, progress=False),
                     appears=lambda: any((folder / "straight" / "trials").glob("*.csv")))
    killed = folder / "killed"
    # a trial is the unit a study resumes from: delays in ascending order, so that an early kill that lands after
    # both trials (and ends the test's chances of a mid-run state) cannot come first; up to half again the time of
    # the first trial's table (timed: the study's own start and its figures at the end vary with the machine), so
    # that the first kill after it leaves one trial done
    trials = killed_at_random_moments(
        lambda: run_study(grid, killed, workers=0, progress=False), first * 1.5, seed=2, ascending=True,
        state=lambda: len(list((killed / "trials").glob("*.csv"))) if (killed / "trials").exists() else 0)
    assert any(0 < n < 2 for n in trials), trials
    assert finished(lambda: run_study(grid, killed, workers=0, progress=False)) == 0
    order = ["trial", "split", "epoch", "selection", "noise", "noise_level"]
    resumed, straight = (pd.read_csv(folder / run / "results.csv").drop(columns="wall_time").sort_values(order)
                         .reset_index(drop=True) for run in ("killed", "straight"))
    pd.testing.assert_frame_equal(resumed, straight)
    for trial in grid.trials:
        for selection in ("last", "best"):
            a, b = (DelayNetwork.load(folder / run / "parameters" / f"{trial.id}.{selection}.npz")
                    for run in ("killed", "straight"))
            assert all(np.array_equal(wa, wb) for wa, wb in zip(a.weights, b.weights))
    print(f"kills landed mid-run with finished trials {trials}")


if __name__ == "__main__":
    root = Path(sys.argv[1])
    assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(root / "warm"), "--quiet"]) == 0   # compiles
    for scenario in (train, study):
        (root / scenario.__name__).mkdir()
        scenario(root / scenario.__name__)
