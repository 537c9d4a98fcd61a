"""Every error is ours (one line, exit 1, details in a file; a full disk named as such), damaged state is recovered
or refused in one line, one writer per output folder, bounded work."""
import errno
import os
import shutil
import subprocess
import sys

import pytest

import brian2_delgrad.utils.storage as storage
from brian2_delgrad.cli import main


def test_an_unexpected_error_is_one_line_with_a_file_of_details(tmp_path, capsys, monkeypatch):
    import brian2_delgrad.experiments.plots as plots

    def broken(*args, **kwargs):
        raise RuntimeError("the figure cannot be drawn\nsecond line")

    monkeypatch.setattr(plots, "plot_training", broken)
    assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("brian2-delgrad: compiling")]
    assert len(lines) == 1 and lines[0].startswith("brian2-delgrad: error: RuntimeError: the figure cannot be drawn "
                                                   "(details in "), lines
    details = lines[0].rsplit("(details in ", 1)[1].rstrip(")")
    text = open(details).read()
    assert "Traceback" in text and "plot_training" in text and "second line" in text


def test_a_full_disk_is_named_as_such_and_what_was_written_resumes(tmp_path, capsys, monkeypatch):
    """The disk fills up in the middle of a training (at its fourth synced file): one line naming it, no temporary
    file left, and the run, continued once there is room, ends with the numbers of one never interrupted."""
    import numpy as np

    out = tmp_path / "out"
    real, calls = storage.os.fsync, []

    def full(descriptor):
        calls.append(descriptor)
        if len(calls) >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(descriptor)

    monkeypatch.setattr(storage.os, "fsync", full)
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 1
    monkeypatch.undo()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("brian2-delgrad: error: disk full: no space left to write "), line
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    assert "resuming from" in capsys.readouterr().out
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    with np.load(out / "parameters.npz") as a, np.load(tmp_path / "straight" / "parameters.npz") as b:
        assert all(np.array_equal(a[key], b[key]) for key in a.files)


def test_an_uncaught_error_leaves_no_brian2_debug_files(tmp_path):
    """In a subprocess (as a user runs it): Brian2's 'please report this issue' banner never appears."""
    code = ("import brian2_delgrad.files.modelfile as m\n"                # fails once Brian2 (and its hooks) are loaded
            "def broken(*a, **k): raise RuntimeError('boom')\n"
            "m.ModelFile.network = broken\n"
            "from brian2_delgrad.cli import main\n"
            f"raise SystemExit(main(['train', 'yinyang_h5_ws', '--epochs', '1', '--out', {str(tmp_path / 'o')!r}, "
            "'--quiet']))\n")
    environment = dict(__import__("os").environ, TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    assert done.returncode == 1 and "Brian 2" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("brian_")]
    assert leftovers == [], leftovers


def rewrite_checkpoint(path, change):
    """Read a checkpoint archive, let ``change(meta, arrays)`` damage it, write it back."""
    meta, arrays = storage.read_archive(path, "checkpoint")
    change(meta, arrays)
    storage.write_archive(path, "checkpoint", {k: v for k, v in meta.items() if k not in ("format", "kind", "version")},
                          arrays)


def fake_history(path):
    """A history log whose rows were edited: the second training epoch claims to be the first again."""
    from brian2_delgrad.training.checkpoints import history_log

    log = history_log(path)
    log.write_text(log.read_text().replace('"epoch": 2, "split": "train"', '"epoch": 1, "split": "train"'))


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]),
    "empty": lambda path: path.write_bytes(b""),
    "negative epoch": lambda path: rewrite_checkpoint(path, lambda meta, arrays: meta.update(epoch=-5)),
    "huge weights": lambda path: rewrite_checkpoint(path, lambda meta, arrays: arrays["weights_0"].fill(1e308)),
    "NaN moments": lambda path: rewrite_checkpoint(path, lambda meta, arrays: arrays["adam_v_1"].fill(float("nan"))),
    "fake history": fake_history,
    "history log cut": lambda path: __import__("brian2_delgrad.training.checkpoints", fromlist=["x"]).history_log(path)
    .write_text(""),
    "other shapes": lambda path: rewrite_checkpoint(path, lambda meta, arrays: arrays.update(weights_1=arrays["weights_1"][:2])),
}
MESSAGES = {"truncated": "cannot read", "empty": "cannot read", "negative epoch": "must be counts",
            "huge weights": "weights beyond 1e+06 theta", "NaN moments": "infinite or NaN",
            "fake history": "training epochs are not 1 ... 2", "other shapes": "its weights have the shapes",
            "history log cut": "history.jsonl holds 0 rows, its checkpoint 5"}


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory):
    """A 2-epoch training's folder, made once for the damage tests (each copies it)."""
    out = tmp_path_factory.mktemp("trained") / "out"
    assert main(["train", "yinyang_h5_ws", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    (out / "summary.json").unlink()                          # as if stopped after epoch 2 of more
    return out


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_checkpoint_is_recognised_as_damage_naming_what(tmp_path, trained_twice, case):
    """Every kind of damage is a DamagedCheckpoint naming the file and what is wrong, before anything trains."""
    from brian2_delgrad import load_model_file
    from brian2_delgrad.training.checkpoints import DamagedCheckpoint

    out = tmp_path / "out"
    shutil.copytree(trained_twice, out)
    DAMAGE[case](out / "checkpoint.npz")
    description = load_model_file("yinyang_h5_ws")
    trainer = description.trainer(description.network(seed=0), progress=False)
    with pytest.raises(DamagedCheckpoint) as caught:
        trainer.fit(*description.data("train"), epochs=3, resume=out / "checkpoint.npz")
    assert MESSAGES[case] in str(caught.value) and str(out / "checkpoint.npz") in str(caught.value)


def test_a_damaged_checkpoint_is_set_aside_in_one_line_and_the_training_starts_again(tmp_path, capsys,
                                                                                      trained_twice):
    """The one resume rule of train and of every study trial: nothing is lost, nothing damaged is resumed."""
    import json

    out = tmp_path / "out"
    shutil.copytree(trained_twice, out)
    DAMAGE["truncated"](out / "checkpoint.npz")
    capsys.readouterr()
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()
             and not line.startswith("brian2-delgrad: compiling")]
    assert len(lines) == 1 and "cannot read checkpoint" in lines[0] and lines[0].endswith(
        "set aside as checkpoint.npz.unreadable; the training starts again"), lines
    assert (out / "checkpoint.npz.unreadable").exists()
    assert len((out / "checkpoint.npz.unreadable.history.jsonl").read_text().splitlines()) == 1 + 2 * 2   # its log
    assert json.loads((out / "summary.json").read_text())["epochs"] == 3


def test_a_checkpoint_of_a_newer_version_is_refused_not_set_aside(tmp_path, capsys, trained_twice):
    """Readable, but written by a version of the package this one cannot read: not damage."""
    import json

    import numpy as np

    out = tmp_path / "out"
    shutil.copytree(trained_twice, out)
    with np.load(out / "checkpoint.npz") as data:
        arrays = {key: data[key] for key in data.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    arrays["meta"] = np.frombuffer(json.dumps(dict(meta, version=99)).encode(), dtype=np.uint8)
    np.savez(out / "checkpoint.npz", **arrays)
    capsys.readouterr()
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "layout version 99 is not one this brian2_delgrad reads" in line and line.endswith(
        "--restart starts again (or give another --out)"), line
    assert (out / "checkpoint.npz").exists() and not (out / "checkpoint.npz.unreadable").exists()


TABLE_DAMAGE = {
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(bytes(range(256)) * 4),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) * 2 // 3]),
    "another trial's": lambda path: path.write_text(path.read_text().replace(path.stem, "someone_else")),
    "cut in its last row": lambda path: path.write_bytes(path.read_bytes().rstrip(b"\n")[:-3] + b"\n"),
}


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """A finished two-trial study (in this process), made once; each test copies its folder."""
    from brian2_delgrad import load_study, run_study

    folder = tmp_path_factory.mktemp("study")
    (folder / "small.toml").write_text('[grid]\nmodels = ["yinyang_h5_ws"]\nseeds = [0, 1]\nepochs = 2\n')
    study = load_study(folder / "small.toml")
    results = run_study(study, folder / "out", workers=0, progress=False)
    return study, folder / "out", results


@pytest.mark.parametrize("case", sorted(TABLE_DAMAGE))
def test_a_damaged_trial_table_is_set_aside_and_the_trial_runs_again(tmp_path, capsys, small_study, case):

    import pandas as pd

    from brian2_delgrad import run_study

    study, finished, expected = small_study
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    damaged = out / "trials" / f"{study.trials[1].id}.csv"
    TABLE_DAMAGE[case](damaged)
    capsys.readouterr()
    results = run_study(study, out, workers=0, progress=False)
    said = [line for line in capsys.readouterr().err.splitlines() if "damaged" in line]
    assert len(said) == 1 and said[0].startswith(f"brian2-delgrad: {damaged}: damaged (") and said[0].endswith(
        f"set aside as {damaged.name}.unreadable; {study.trials[1].id} runs again"), said
    assert (out / "trials" / f"{damaged.name}.unreadable").exists()
    columns = [c for c in expected.columns if c != "wall_time"]
    pd.testing.assert_frame_equal(results[columns].sort_values(["trial", "split", "epoch", "noise"]).reset_index(drop=True),
                                  expected[columns].sort_values(["trial", "split", "epoch", "noise"]).reset_index(drop=True))


def test_damaged_saved_networks_and_checkpoints_of_a_study_are_set_aside(tmp_path, capsys, small_study):

    from brian2_delgrad import run_study

    study, finished, expected = small_study
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    network = out / "parameters" / f"{study.trials[0].id}.best.npz"
    network.write_bytes(network.read_bytes()[:100])
    checkpoint = out / "checkpoints" / f"{study.trials[1].id}.npz"
    (out / "trials" / f"{study.trials[1].id}.csv").unlink()             # as if killed before it finished
    checkpoint.write_bytes(b"PK\x03\x04 cut short")
    capsys.readouterr()
    results = run_study(study, out, workers=0, progress=False)
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("brian2-delgrad:")]
    assert len(said) == 2 and all("set aside as" in line for line in said), said
    assert network.with_name(network.name + ".unreadable").exists() and checkpoint.with_name(
        checkpoint.name + ".unreadable").exists()
    assert sorted(results.trial.unique()) == sorted(expected.trial.unique()) and len(results) == len(expected)


def test_one_writer_per_output_folder_and_a_killed_writer_leaves_no_stale_lock(tmp_path, capsys):
    import signal
    import socket
    import time

    from brian2_delgrad import load_study, run_study
    from brian2_delgrad.utils.storage import FolderInUse, only_writer

    out = tmp_path / "out"
    with only_writer(out, "a test holding the folder"):
        assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(out), "--quiet", "--seed", "1"]) == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert line == (f"brian2-delgrad: error: {out}: in use by process {os.getpid()} on {socket.gethostname()} "
                        "(a test holding the folder); wait for it to end or give another --out"), line
        (tmp_path / "s.toml").write_text('[grid]\nmodels = ["yinyang_h5_ws"]\nseeds = [0]\nepochs = 1\n')
        with pytest.raises(FolderInUse, match="in use by process"):
            run_study(load_study(tmp_path / "s.toml"), out, workers=0, progress=False)
    assert not (out / "checkpoint.npz").exists()                      # the refused runs wrote nothing
    holder = subprocess.Popen([sys.executable, "-c", "import time; from brian2_delgrad.utils.storage import only_writer\n"
                               f"with only_writer({str(out)!r}, 'killed'):\n    time.sleep(60)"])
    deadline = time.monotonic() + 60
    while "killed" not in (out / ".lock").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    leftover = out / ".checkpoint.npz.999999.0badf00d.tmp"           # as a writer killed mid-write leaves it
    leftover.write_bytes(b"half")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert not leftover.exists() and (out / "summary.json").exists()


def test_work_that_would_never_end_or_never_start_is_refused_at_once(tmp_path, capsys, monkeypatch):
    import numpy as np

    import brian2_delgrad.utils.memory as memory
    from brian2_delgrad import load_model_file, load_study
    from brian2_delgrad.files.toml import ConfigError
    from test_hostile_files import deadline

    grid = tmp_path / "huge.toml"
    grid.write_text(f'[grid]\nmodels = ["yinyang_h5_ws"]\nhidden = {list(range(1, 1001))}\nseeds = {list(range(1000))}\n')
    with deadline(30), pytest.raises(ConfigError, match=r"grid.models: the grid has 1000000 trials .* at most 10000"):
        load_study(grid)
    with pytest.raises(SystemExit):
        main(["train", "yinyang_h5_ws", "--epochs", str(2**63 - 1), "--out", str(tmp_path / "o")])
    assert "--epochs must be in [0, 1e+06], got 9223372036854775807" in capsys.readouterr().err
    model = tmp_path / "model.toml"
    model.write_text('[network]\nsizes = [4, 4, 3]\n[data]\ndataset = "yin_yang"\n[training]\nepochs = 9223372036854775807\n')
    with pytest.raises(ConfigError, match="training.epochs: must be in"):
        load_model_file(model)
    os.mkfifo(tmp_path / "x.csv")                            # reading it would wait for ever
    model.write_text('[network]\nsizes = [5, 4, 3]\n[data]\npath = "x.csv"\n')
    with deadline(30), pytest.raises(ConfigError, match=r"data.path: .*x.csv: not a regular file"):
        load_model_file(model)
    rows = tmp_path / "rows.csv"
    rows.write_text("x,y,label\n" + "0.5,0.25,1\n0.25,0.5,0\n0.75,0.5,2\n" * 1000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 50_000)
    with pytest.raises(ValueError, match=r"rows.csv: reading its 70.3 kB of numbers needs about 281 kB of memory; this machine has 48.8 kB"):
        __import__("brian2_delgrad.datasets", fromlist=["x"]).load_dataset(rows)
    monkeypatch.undo()
    values, labels = __import__("brian2_delgrad.datasets", fromlist=["x"]).load_dataset(rows).load("train")
    assert values.shape[1] == 2 and set(labels.tolist()) == {0, 1, 2} and np.all((0 <= values) & (values <= 1))


def test_a_checkpoint_does_not_grow_with_the_epochs(tmp_path):
    """The history goes to an append-only log beside the checkpoint: the checkpoint stays the same size."""
    from brian2_delgrad import load_model_file
    from brian2_delgrad.training.checkpoints import history_log

    model = load_model_file("yinyang_h5_ws")
    data, validation = model.data("train"), model.data("validation")
    sizes = {}
    for epochs in (2, 12):
        trainer = model.trainer(model.network(seed=0), progress=False)
        trainer.fit(data[0][:300], data[1][:300], validation=(validation[0][:100], validation[1][:100]),
                    epochs=epochs, checkpoint=tmp_path / f"{epochs}.npz")
        sizes[epochs] = ((tmp_path / f"{epochs}.npz").stat().st_size, history_log(tmp_path / f"{epochs}.npz"))
    assert abs(sizes[12][0] - sizes[2][0]) < 64, sizes                  # a few digits of the counts in its meta
    assert len(sizes[12][1].read_text().splitlines()) == 1 + 2 * 12     # epoch 0's validation, then 2 rows an epoch


def test_train_and_a_study_killed_at_20_random_moments_each_resume_bit_identically(tmp_path):
    """SIGKILL at 20 random moments (mid-epoch, in checkpoint and trial writes, in the final files), each run
    resuming the last: the parameters, history and results equal an uninterrupted run's, bit for bit. Runs in a
    fresh process (tests/kill_scenarios.py) that compiles once and forks every run, so that no thread of an
    earlier test is forked with it."""
    done = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "kill_scenarios.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("kills landed mid-run") == 2, done.stdout


def test_the_history_log_goes_with_its_checkpoint(tmp_path):
    """Resuming from one checkpoint and saving to another gives the second a whole log of its own; rows of an
    epoch whose checkpoint was never written are dropped on resume; two checkpoints whose names differ only after
    their last dot keep their own logs. Every resumed history equals an uninterrupted one."""
    import pandas as pd

    from brian2_delgrad import load_model_file
    from brian2_delgrad.training.checkpoints import history_log, load_checkpoint

    model = load_model_file("yinyang_h5_ws")
    (X, y), validation = model.data("train"), model.data("validation")
    data = (X[:300], y[:300]), (validation[0][:100], validation[1][:100])

    def fit(epochs, seed=0, **kwargs):
        trainer = model.trainer(model.network(seed=seed), seed=seed, progress=False)
        return trainer.fit(*data[0], validation=data[1], epochs=epochs, **kwargs).drop(columns="wall_time")

    straight = fit(4)
    fit(2, checkpoint=tmp_path / "a.npz")
    resumed = fit(4, resume=tmp_path / "a.npz", checkpoint=tmp_path / "b.npz")
    def logged(path):
        return pd.DataFrame(load_checkpoint(path).history).drop(columns="wall_time")

    assert resumed.equals(straight) and logged(tmp_path / "b.npz").equals(straight)
    assert fit(4, resume=tmp_path / "b.npz").equals(straight)          # b resumes on its own log
    with open(history_log(tmp_path / "a.npz"), "a") as log:           # an epoch logged, its checkpoint never written
        log.write('{"epoch": 3, "split": "train", "loss": 0.0}\n{"epoch": 3, "spl')
    assert fit(4, resume=tmp_path / "a.npz", checkpoint=tmp_path / "a.npz").equals(straight)
    assert len(history_log(tmp_path / "a.npz").read_text().splitlines()) == 9
    fit(2, seed=1, checkpoint=tmp_path / "run.seed1")
    fit(3, seed=2, checkpoint=tmp_path / "run.seed2")
    assert logged(tmp_path / "run.seed1").equals(fit(2, seed=1))


def test_restart_starts_afresh_and_a_stop_after_it_says_how_to_continue(tmp_path, capsys, monkeypatch):
    """--restart removes the old run; a Ctrl-C that lands in a compiled kernel (a SystemError caused by the
    KeyboardInterrupt) is a stop like any other."""
    import brian2_delgrad.training.trainer as training

    out = tmp_path / "out"
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    real = training.Trainer._save

    def stop_after_one(self, path):                           # Ctrl-C right after the new run's first epoch,
        real(self, path)                                      # as it reaches Python when it lands in a kernel
        raise SystemError("CPUDispatcher(backward) returned a result with an exception set") from KeyboardInterrupt()

    monkeypatch.setattr(training.Trainer, "_save", stop_after_one)
    capsys.readouterr()
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet", "--restart"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"brian2-delgrad: stopped after epoch 1 (saved in {out / 'checkpoint.npz'}); run the same command without "
        "--restart to continue")
    assert not (out / "summary.json").exists()                # the old run's summary went with it
    monkeypatch.undo()
    assert main(["train", "yinyang_h5_ws", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    assert "resuming from" in capsys.readouterr().out
