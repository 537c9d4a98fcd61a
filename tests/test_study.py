"""Study files, trials, the dask runner (killed and resumed for real), the tables and the figures."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate
from brian2_delgrad.cli import main
from brian2_delgrad.datasets.registry import idx_folder
from brian2_delgrad.files.toml import ConfigError
from brian2_delgrad.training.losses import predict_labels
from brian2_delgrad.experiments.plots import plot_study
from brian2_delgrad.experiments.study import collect, run_study, stability_table, summarize
from brian2_delgrad.experiments.trial import evaluate_trial, run_trial
from brian2_delgrad.files.studyfile import load_study

MODELS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "models"))

SMALL = f"""
description = "test study"

[grid]
models = ["{MODELS}/yinyang_h30_w.toml", "{MODELS}/yinyang_h30_ws.toml"]
hidden = [4]
seeds = [0, 1, 2]
epochs = EPOCHS
"""


def write_study(tmp_path, text=SMALL, epochs=3, name="small.toml"):
    path = tmp_path / name
    path.write_text(text.replace("EPOCHS", str(epochs)))
    return path


def test_grid_expands_into_stable_unique_trials(tmp_path):
    study = load_study(write_study(tmp_path))
    assert len(study.trials) == 6 and len({t.id for t in study.trials}) == 6
    assert [t.id for t in load_study(write_study(tmp_path)).trials] == [t.id for t in study.trials]
    other = load_study(write_study(tmp_path, epochs=4, name="other.toml"))
    assert not {t.id for t in other.trials} & {t.id for t in study.trials}     # results depend on epochs
    trial = study.trials[-1]
    assert trial.model_file.sizes == (4, 4, 3) and trial.epochs == 3 and trial.seed == 2
    assert trial.columns["placement"] == "synaptic" and trial.columns["n_parameters"] == 14 * 4
    assert trial.columns["hidden"] == 4 and trial.columns["profile"] == "ideal"


STUDIES = os.path.join(os.path.dirname(__file__), "..", "studies")


def test_the_published_studies_are_shipped():
    names = {f for f in os.listdir(STUDIES) if f.endswith(".toml")}
    assert {"quickstart.toml", "delay_types.toml", "noise.toml", "hardware.toml", "fashion.toml"} <= names


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(STUDIES) if f.endswith(".toml")))
def test_every_shipped_study_file_loads(name):
    if name == "fashion.toml":
        try:
            idx_folder("fashion_mnist")
        except ValueError as err:                  # its data set's files are installed apart from the package
            pytest.skip(str(err))
    assert load_study(os.path.join(STUDIES, name)).trials


BROKEN = {
    "misspelt models": ('models = [', 'modelz = [', "grid.modelz: unknown key 'modelz'; did you mean 'models'?"),
    "missing models": ('models = [', '# models = [', "grid.models: missing"),
    "unknown key": ("seeds = [0, 1, 2]", "seeds = [0, 1, 2]\nseed = 3", "grid.seed: unknown key"),
    "missing model file": ("yinyang_h30_ws.toml", "yinyang_h99.toml", "yinyang_h99.toml: no such file"),
    "repeated seed": ("seeds = [0, 1, 2]", "seeds = [0, 1, 1]", "grid.seeds: repeats a value"),
    "repeated size": ("hidden = [4]", "hidden = [4, 4]", "grid.hidden: repeats a value"),
    "repeated level": ("epochs = 3", "epochs = 3\n[evaluate]\ndelay_jitter = [0.1, 0.1]", "evaluate.delay_jitter: repeats"),
    "empty hidden": ("hidden = [4]", "hidden = []", "grid.hidden: must not be empty"),
    "negative noise": ("epochs = 3", "epochs = 3\ntrain_delay_jitter = [-0.1]", "grid.train_delay_jitter: must be >= 0"),
    "python expression": ("epochs = 3", 'epochs = 3\n[evaluate]\ndelay_jitter = [0.1]\ndt = "__import__(\'os\')"',
                          "evaluate.dt"),
    "no evaluation kind": ("epochs = 3", "epochs = 3\n[evaluate]\nrepeats = 2", "evaluate: give at least one of"),
    "coarse dt": ("epochs = 3", 'epochs = 3\n[evaluate]\nmembrane_noise = [0.1]\ndt = "1*ms"',
                  "evaluate.dt: 1000 us is too coarse"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_study_files_are_errors_naming_file_and_field(tmp_path, case):
    old, new, message = BROKEN[case]
    text = SMALL.replace("EPOCHS", "3")
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as error:
        load_study(path)
    assert message in str(error.value), str(error.value)
    result = subprocess.run([sys.executable, "-m", "brian2_delgrad", "study", str(path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_hidden_grid_needs_single_hidden_layer_models(tmp_path):
    model = tmp_path / "deep.toml"
    model.write_text(open(f"{MODELS}/yinyang_h30_w.toml").read().replace("sizes = [4, 30, 3]", "sizes = [4, 8, 8, 3]"))
    path = write_study(tmp_path, SMALL.replace(f"{MODELS}/yinyang_h30_ws.toml", str(model)))
    with pytest.raises(ConfigError, match="grid.hidden: needs models with one hidden layer; deep"):
        load_study(path)


def test_trial_table_holds_history_and_test_rows_that_match_an_independent_evaluation(tmp_path):
    text = SMALL + "\n[evaluate]\ndelay_jitter = [0.0, 0.1]\nthreshold_noise = [0.2]\nspike_jitter = [0.3]\nrepeats = 2\n"
    trial = load_study(write_study(tmp_path, text)).trials[4]          # 4-4-3 synaptic, seed 1
    run = run_trial(trial, tmp_path / f"{trial.id}.npz")
    table, nets = run.table, run.nets
    assert (tmp_path / f"{trial.id}.npz").exists()                    # run_study removes it once the result is saved
    assert (table.trial == trial.id).all() and (table.seed == 1).all() and (table.placement == "synaptic").all()
    history = table[table.split != "test"]
    assert sorted(history[history.split == "validation"].epoch) == [0, 1, 2, 3]
    assert sorted(history[history.split == "train"].epoch) == [1, 2, 3]
    best = history[history.split == "validation"].set_index("epoch").accuracy
    best_epoch = max(e for e in best.index if best[e] == best.max() and e > 0)
    X, y = trial.model_file.data("test")
    for selection, epoch in (("last", 3), ("best", best_epoch)):
        net = nets[selection]
        test = table[(table.split == "test") & (table.selection == selection)].set_index(["noise", "noise_level"])
        clean = np.mean(predict_labels(ExactSubstrate().run(net, X)[-1]) == y)
        assert (test.epoch == epoch).all() and test.loc[("none", 0.0), "accuracy"] == pytest.approx(clean, abs=1e-12)
        if selection == "last":                       # the recipe keeps the best: the last is tested clean only
            assert list(test.index) == [("none", 0.0)]
            continue
        assert list(test.index) == [("none", 0.0), ("spike_jitter", 0.3), ("delay_jitter", 0.0),
                                    ("delay_jitter", 0.1), ("threshold_noise", 0.2)]
        assert test.loc[("delay_jitter", 0.0), "accuracy"] == pytest.approx(clean, abs=1e-12)
        assert test.loc[("delay_jitter", 0.1), "repeats"] == 2
        assert test.loc[("threshold_noise", 0.2), "accuracy"] < clean     # 20 % threshold noise hurts
        assert test.loc[("spike_jitter", 0.3), "accuracy"] < clean        # and so does jitter of 0.3 tau_s
    validation = trial.model_file.data("validation")
    for selection in ("last", "best"):        # each network is the one its epoch's validation row measured
        accuracy = np.mean(predict_labels(ExactSubstrate().run(nets[selection], validation[0])[-1]) == validation[1])
        assert accuracy == pytest.approx(best[3 if selection == "last" else best_epoch], abs=1e-12)


def test_a_new_evaluate_section_retests_the_saved_networks_without_training_them(tmp_path):
    out = tmp_path / "out"
    first = load_study(write_study(tmp_path, SMALL + "\n[evaluate]\nthreshold_noise = [0.1]\nrepeats = 1\n"))
    run_study(first, out, workers=2, progress=False)
    parameters = {p.name: p.stat().st_mtime_ns for p in (out / "parameters").iterdir()}
    before = pd.read_csv(out / "results.csv")
    text = SMALL + "\n[evaluate]\nthreshold_noise = [0.1, 0.2]\nspike_jitter = [0.1]\nrepeats = 2\n"
    study = load_study(write_study(tmp_path, text))
    assert [t.id for t in study.trials] == [t.id for t in first.trials]           # the same networks
    after = run_study(study, out, workers=2, progress=False)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert sorted(e["trial"] for e in log if "kind" not in e) == sorted(t.id for t in study.trials)   # trained once
    assert sorted(e["trial"] for e in log if e.get("kind") == "evaluation") == sorted(t.id for t in study.trials)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parameters").iterdir()} == parameters
    def history(table):
        return table[table.split != "test"].drop(columns="evaluation").reset_index(drop=True)
    pd.testing.assert_frame_equal(history(after), history(before))
    test = after[after.split == "test"]
    assert sorted(set(zip(test.noise, test.noise_level))) == [("none", 0.0), ("spike_jitter", 0.1),
                                                             ("threshold_noise", 0.1), ("threshold_noise", 0.2)]
    trial = study.trials[4]
    got = test[(test.trial == trial.id) & (test.selection == "best")].reset_index(drop=True)
    expected = evaluate_trial(trial, DelayNetwork.load(out / "parameters" / f"{trial.id}.best.npz"),
                              epoch=int(got.epoch.iloc[0]))
    np.testing.assert_allclose(got.accuracy, expected.accuracy, atol=1e-12)
    assert list(got.noise) == list(expected.noise) and (got.evaluation == trial.evaluation_id).all()
    run_study(study, out, workers=2, progress=False)                              # up to date: nothing runs
    assert len((out / "log.jsonl").read_text().splitlines()) == len(log)
    saved = pd.read_csv(out / "trials" / f"{trial.id}.csv")                       # as if its re-test had failed:
    saved.assign(evaluation="e0123456789").to_csv(out / "trials" / f"{trial.id}.csv", index=False)
    results = collect(study, out)                                                 # its old test rows are left out
    assert not ((results.trial == trial.id) & (results.split == "test")).any()
    assert len(results[results.trial == trial.id]) == len(saved[saved.split != "test"])
    assert results.evaluation.map(type).eq(str).all()                            # ids stay strings through CSV


def test_summary_gives_median_and_quartiles_per_condition_over_seeds():
    rows = pd.DataFrame(dict(model="m", placement="none", profile="ideal", sizes="4-5-3", hidden=5, n_parameters=35,
                             train_spike_jitter=0.0, train_delay_jitter=0.0, train_threshold_noise=0.0, noise="none", noise_level=0.0,
                             split="test", seed=[0, 1, 2, 3], accuracy=[0.9, 0.8, 0.7, 1.0]))
    summary = summarize(pd.concat([rows, rows.assign(split="validation")]))
    assert len(summary) == 1
    assert summary.loc[0, ["median", "q25", "q75", "count"]].tolist() == pytest.approx([0.85, 0.775, 0.925, 4])


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "brian2_delgrad", *args], capture_output=True, text=True, **kwargs)


def test_killed_study_resumes_without_losing_or_repeating_a_trial(tmp_path):
    """A real LocalCluster with 2 workers is SIGKILLed (the whole process group) after the first finished
    trial; the re-run finishes the rest, and everything equals an uninterrupted run."""
    study = write_study(tmp_path, epochs=40)
    trials = [t.id for t in load_study(study).trials]
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "brian2_delgrad", "study", str(study), "--workers", "2", "--out", str(out),
               "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((out / "trials").glob("*.csv")) and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    first = {p.stem: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "trials").glob("*.csv")}
    assert 1 <= len(first) < len(trials), f"kill came too late or too early: {len(first)} finished"
    assert not (out / "results.csv").exists()

    result = run_cli("study", str(study), "--workers", "2", "--out", str(out), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    for trial, (content, mtime) in first.items():                     # finished trials were not run again
        path = out / "trials" / f"{trial}.csv"
        assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert sorted(entry["trial"] for entry in log) == sorted(trials)  # each trial finished exactly once
    assert len({entry["run"] for entry in log}) == 2
    results = pd.read_csv(out / "results.csv")
    assert sorted(results.trial.unique()) == sorted(trials)
    for trial, rows in results.groupby("trial"):
        assert sorted(rows[rows.split == "validation"].epoch) == list(range(41))
        assert sorted(rows[rows.split == "train"].epoch) == list(range(1, 41))
        assert sorted(rows[rows.split == "test"].selection) == ["best", "last"]
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 and (summary["count"] == 3).all()       # 2 placements x (last, best)
    assert not list((out / "checkpoints").glob("*.npz"))

    reference = tmp_path / "uninterrupted"
    assert run_cli("study", str(study), "--workers", "2", "--out", str(reference), "--quiet",
                   timeout=600).returncode == 0
    for trial in trials:                                              # resumed mid-training or not: same result
        for selection in ("last", "best"):
            a = DelayNetwork.load(out / "parameters" / f"{trial}.{selection}.npz")
            b = DelayNetwork.load(reference / "parameters" / f"{trial}.{selection}.npz")
            for wa, wb in zip(a.weights, b.weights):
                np.testing.assert_array_equal(wa, wb)
    expected = pd.read_csv(reference / "results.csv").drop(columns="wall_time")
    pd.testing.assert_frame_equal(results.drop(columns="wall_time").sort_values(["trial", "split", "epoch"])
                                  .reset_index(drop=True),
                                  expected.sort_values(["trial", "split", "epoch"]).reset_index(drop=True))


def test_report_redraws_the_figures_from_the_tables(tmp_path, capsys):
    results = _fake_results()
    results.to_csv(tmp_path / "results.csv", index=False)
    assert main(["report", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.glob("*.png")}
    assert names == {"delay_types.png", "validation.png", "noise.png", "hardware.png"}
    assert all((tmp_path / n).stat().st_size > 10_000 for n in names)
    behind = pd.read_csv(tmp_path / "delay_types.csv")
    test = results[(results.split == "test") & (results.noise == "none") & (results.profile == "ideal")
                   & (results.selection == "best")]                  # the network these recipes report
    expected = (1 - test.groupby(["placement", "hidden"]).accuracy.median()).sort_index()
    got = behind[behind.condition.isin(["weights only", "axonal"])].set_index(["condition", "hidden"])["median"]
    got = got.rename({"weights only": "none"}).sort_index()
    assert set(behind.condition) == {"weights only", "axonal", "weights only (brainscales2)", "axonal (brainscales2)"}
    np.testing.assert_allclose(got.values, expected.values)
    assert "test accuracy" in capsys.readouterr().out


def test_noise_figure_has_a_line_per_placement_for_each_training_condition(tmp_path):
    clean = _fake_results().query("profile == 'ideal' and hidden == 5")
    trained = clean.assign(train_threshold_noise=0.05, accuracy=clean.accuracy - 0.02)
    results = pd.concat([clean, trained], ignore_index=True)
    plot_study(results, tmp_path)
    behind = pd.read_csv(tmp_path / "noise.csv")
    assert set(behind.training) == {"trained noise-free", "trained with threshold noise 0.05"}
    assert set(behind.placement_label) == {"weights only", "axonal"}
    noisy = results[(results.split == "test") & (results.noise != "none") & (results.selection == "best")]
    expected = noisy.groupby(["train_threshold_noise", "placement", "noise_level"]).accuracy.median()
    got = behind.assign(train_threshold_noise=np.where(behind.training == "trained noise-free", 0.0, 0.05),
                        placement=behind.placement_label.replace({"weights only": "none"}))
    got = got.set_index(["train_threshold_noise", "placement", "noise_level"])["median"]
    np.testing.assert_allclose(got.loc[expected.index].values, expected.values)


def test_hardware_figure_shows_last_and_best_epoch_per_seed_and_the_stability_table_the_spread(tmp_path):
    results = _fake_results()
    plot_study(results, tmp_path)
    behind = pd.read_csv(tmp_path / "hardware.csv")
    assert set(zip(behind.condition, behind.selection)) == {(c, s) for c in ("weights only (brainscales2)",
                                                                             "axonal (brainscales2)")
                                                            for s in ("last", "best")}
    test = results[(results.split == "test") & (results.noise == "none") & (results.profile == "brainscales2")]
    expected = test.groupby(["placement", "selection"]).accuracy.median()
    got = behind.assign(placement=behind.condition.str.split(" ").str[0].replace({"weights": "none"}))
    np.testing.assert_allclose(got.set_index(["placement", "selection"])["median"].loc[expected.index], expected)

    table = stability_table(results)
    assert len(table) == 18 and {"last_epoch", "best_epoch", "test_accuracy_last", "test_accuracy_best"} <= set(table)
    one = results[(results.model == "m_axonal") & (results.sizes == "4-30-3") & (results.seed == 1)]
    row = table[(table.model == "m_axonal") & (table.sizes == "4-30-3") & (table.seed == 1)].iloc[0]
    curve = one[(one.split == "validation") & (one.epoch > 0)].accuracy
    assert row.validation_std == pytest.approx(curve.std(ddof=0)) and row.stability_epochs == 3
    assert row.validation_range == pytest.approx(curve.max() - curve.min())
    assert row.test_accuracy_last == one[(one.split == "test") & (one.noise == "none")
                                         & (one.selection == "last")].accuracy.iloc[0]
    assert (row.last_epoch, row.best_epoch) == (3, 2)


def test_report_reads_tables_from_before_both_networks_were_tested(tmp_path, capsys):
    old = _fake_results()
    old = old[(old.split != "test") | (old.selection == np.where(old.keep_best, "best", "last"))]
    old = old.drop(columns=["selection"])
    old.to_csv(tmp_path / "results.csv", index=False)
    assert main(["report", str(tmp_path)]) == 0
    stability = pd.read_csv(tmp_path / "stability.csv")
    assert len(stability) == 18 and stability.validation_std.notna().all()
    assert stability.test_accuracy_best.notna().sum() == 12 and stability.test_accuracy_last.notna().sum() == 6
    assert "median over seeds" in capsys.readouterr().out


def test_a_hidden_size_that_tied_delays_do_not_fit_is_an_error_naming_grid_hidden(tmp_path):
    model = tmp_path / "tied.toml"
    model.write_text(open(f"{MODELS}/yinyang_h30_wa.toml").read().replace(
        'delay_bounds = "sigmoid"', 'delay_bounds = "sigmoid"\ndelay_groups = [2, 5]'))
    path = write_study(tmp_path, SMALL.replace(f'"{MODELS}/yinyang_h30_w.toml", "{MODELS}/yinyang_h30_ws.toml"',
                                               f'"{model}"').replace("hidden = [4]", "hidden = [20, 21]"))
    with pytest.raises(ConfigError, match="grid.hidden: tied with hidden = 21: .*5 copies .* 21 presynaptic"):
        load_study(path)


def test_report_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "results.csv: no such file" in capsys.readouterr().err


def test_figures_only_for_what_the_results_hold(tmp_path):
    results = _fake_results()
    one_size = results[(results.hidden == 5) & (results.profile == "ideal") & (results.noise == "none")]
    assert [p.name for p in plot_study(one_size, tmp_path)] == ["validation.png"]


def _fake_results():
    """A results table with the runner's columns: two placements, two sizes, 3 seeds, noise rows, a profile."""
    rng = np.random.default_rng(0)
    rows = []
    for profile in ("ideal", "brainscales2"):
        for placement in ("none", "axonal"):
            for hidden in ((5, 10) if profile == "ideal" else (30,)):
                for seed in range(3):
                    base = dict(trial=f"m_{placement}_{profile}_h{hidden}_s{seed}", model=f"m_{placement}",
                                placement=placement, profile=profile, sizes=f"4-{hidden}-3",
                                hidden=hidden, n_parameters=7 * hidden + (hidden + 4) * (placement == "axonal"),
                                seed=seed, train_spike_jitter=0.0, train_delay_jitter=0.0,
                                train_threshold_noise=0.0, keep_best=profile == "ideal")
                    for epoch in range(4):
                        rows.append(dict(base, split="validation", epoch=epoch, noise="none", noise_level=0.0,
                                         accuracy=0.5 + 0.1 * epoch + 0.01 * rng.random()))
                    for selection, epoch in (("last", 3), ("best", 2)):
                        test = dict(base, split="test", epoch=epoch, selection=selection)
                        rows.append(dict(test, noise="none", noise_level=0.0, accuracy=0.8 + 0.1 * rng.random()))
                        for level in (0.05, 0.1):
                            rows.append(dict(test, noise="spike_jitter", noise_level=level,
                                             accuracy=0.8 - level + 0.01 * rng.random()))
    return pd.DataFrame(rows)


@pytest.mark.brian2
def test_membrane_noise_is_evaluated_on_brian2(tmp_path):
    text = SMALL + '\n[evaluate]\nmembrane_noise = [0.0, 0.3]\nrepeats = 1\nbrian2_target = "numpy"\n'
    trial = load_study(write_study(tmp_path, text, epochs=15)).trials[3]    # 4-4-3 synaptic, seed 0
    table = run_trial(trial).table
    test = table[(table.split == "test") & (table.selection == "best")].set_index(["noise", "noise_level"]).accuracy
    # Brian2 without noise decides like the exact substrate for nearly every sample (dt = 10 us) ...
    assert abs(test[("membrane_noise", 0.0)] - test[("none", 0.0)]) <= 0.02
    # ... and a membrane noise of 0.3 theta costs accuracy
    assert test[("membrane_noise", 0.3)] < test[("membrane_noise", 0.0)] - 0.02


def test_an_existing_cluster_is_used_and_left_running(tmp_path):
    from dask.distributed import Client, LocalCluster

    from brian2_delgrad.experiments.study import run_study

    study = load_study(write_study(tmp_path, epochs=2))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        results = run_study(study, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)
        with Client(cluster.scheduler_address) as client:              # still up, with its worker
            assert len(client.scheduler_info()["workers"]) == 1
            assert client.submit(sum, [1, 2]).result() == 3
    assert sorted(results.trial.unique()) == sorted(t.id for t in study.trials)


def test_a_failing_trial_is_reported_after_the_others_are_saved(tmp_path, capsys):
    import dataclasses

    from brian2_delgrad.experiments.study import StudyError, run_study

    study = load_study(write_study(tmp_path, epochs=2))
    broken = dataclasses.replace(study.trials[1], epochs=-1)             # Trainer.fit refuses it in the worker
    study = dataclasses.replace(study, trials=[study.trials[0], broken])
    with pytest.raises(StudyError, match=rf"1 of 2 trials failed.*\n{broken.id}: ValueError: epochs"):
        run_study(study, tmp_path / "out", workers=1, progress=False)
    assert [p.stem for p in (tmp_path / "out" / "trials").glob("*.csv")] == [study.trials[0].id]
    assert set(pd.read_csv(tmp_path / "out" / "results.csv").trial) == {study.trials[0].id}
    assert main(["report", str(tmp_path / "out")]) == 0


def test_an_unreadable_checkpoint_is_put_aside_and_the_trial_starts_afresh(tmp_path):
    trial = load_study(write_study(tmp_path, epochs=2)).trials[0]
    (tmp_path / f"{trial.id}.npz").write_bytes(b"cut short")
    table = run_trial(trial, tmp_path / f"{trial.id}.npz").table
    assert (tmp_path / f"{trial.id}.npz.unreadable").read_bytes() == b"cut short"
    assert sorted(table[table.split == "train"].epoch) == [1, 2]


def test_seeds_of_a_randomly_connected_model_are_one_condition():
    """Each seed draws its own connectivity, so its parameter count: the summary reports the median, one row."""
    from brian2_delgrad.experiments.tables import quartiles

    rows = pd.DataFrame(dict(model="sparse", n_parameters=[186, 206, 208], accuracy=[0.95, 0.94, 0.96]))
    table = quartiles(rows, ["model", "n_parameters"])
    assert len(table) == 1 and table.n_parameters.iloc[0] == 206 and table["count"].iloc[0] == 3
    assert list(table.columns) == ["model", "n_parameters", "median", "q25", "q75", "count"]


def test_workers_zero_runs_the_trials_in_the_calling_process(tmp_path):
    """A plain script, without a __main__ guard, cannot start worker processes (they re-import it); with
    workers=0 it needs none, and its results are those of the trials run one by one."""
    study_path = write_study(tmp_path, epochs=2)
    script = tmp_path / "plain_script.py"
    script.write_text(f"from brian2_delgrad import load_study, run_study\n"
                      f"results = run_study(load_study({str(study_path)!r}), {str(tmp_path / 'out')!r}, workers=0, "
                      f"progress=False)\nprint(len(results))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    study = load_study(study_path)
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert sorted(results.trial.unique()) == sorted(t.id for t in study.trials)
    (tmp_path / "alone").mkdir()
    table = run_trial(study.trials[0], tmp_path / "alone" / "checkpoint.npz").table
    mine = results[(results.trial == study.trials[0].id) & (results.split == "validation")]
    np.testing.assert_array_equal(mine.sort_values("epoch").accuracy.to_numpy(),
                                  table[table.split == "validation"].sort_values("epoch").accuracy.to_numpy())
    with pytest.raises(ValueError, match="workers must be >= 0"):
        run_study(study, tmp_path / "out", workers=-1)
