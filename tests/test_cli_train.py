"""brian2-delgrad train: outputs, clear errors for broken model files, and kill-and-resume."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from brian2_delgrad.training.checkpoints import load_checkpoint
from brian2_delgrad.cli import main

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h5_ws.toml")


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "brian2_delgrad", *args], capture_output=True, text=True,
                          **kwargs)


def test_train_writes_its_outputs_and_the_test_accuracy(tmp_path, capsys):
    assert main(["train", MODEL, "--epochs", "3", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.strip().splitlines()[-1].removeprefix("test accuracy: "))
    assert 0.5 < accuracy <= 1
    history = pd.read_csv(tmp_path / "history.csv")
    assert set(history.split) == {"train", "validation"} and history.epoch.max() == 3
    assert (tmp_path / "training.png").stat().st_size > 10_000
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=5e-4) and summary["n_parameters"] == 70
    with np.load(tmp_path / "parameters.npz") as params:
        assert params["weights_0"].shape == (4, 5) and params["delays_1_synaptic"].shape == (5, 3)


BROKEN = {
    "misspelt section": ("[loss]", "[lossy]", "lossy: unknown table [lossy]; did you mean [loss]?"),
    "negative tau": ('tau_m = "10*ms"', 'tau_m = "-10*ms"', "neuron.tau_m: must be positive"),
    "unknown unit": ('tau_s = "5*ms"', 'tau_s = "5*parsec"', "neuron.tau_s: unknown unit 'parsec'"),
    "unknown placement": ('delays = "synaptic"', 'delays = "somatic"', "network.delays: unknown placement"),
    "python expression": ('tau_m = "10*ms"', "tau_m = \"__import__('os').getcwd()\"", "neuron.tau_m"),
    "wrong type": ("epochs = 300", "epochs = 30.5", "training.epochs: must be an integer"),
    "unknown key": ("lr_decay = 0.95", "lr_decaay = 0.95", "training.lr_decaay: unknown key"),
    "other equations": ("dI/dt = -I/tau_s", "dI/dt = -I/tau_m", "neuron.equations"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_model_files_give_one_clear_line(tmp_path, case):
    old, new, message = BROKEN[case]
    text = open(MODEL).read()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    result = run_cli("train", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"brian2-delgrad: error: {path}: ") and message in lines[0], lines[0]


@pytest.mark.parametrize("connection, stop", [("dense", signal.SIGKILL), ("sparse", signal.SIGINT)],
                         ids=["dense-SIGKILL", "sparse-Ctrl-C"])
def test_killed_training_resumes_bit_identically(tmp_path, connection, stop):
    """SIGKILL or Ctrl-C a training run mid-way, re-run the same command, compare with an uninterrupted run;
    Ctrl-C says in one line where it stopped (exit 130); a sparse network's missing synapses stay absent and
    zero through it."""
    model = MODEL
    if connection == "sparse":
        model = tmp_path / "sparse.toml"
        model.write_text(open(MODEL).read().replace('delays = "synaptic"', 'delays = "synaptic"\n'
                                                    'connection_probability = [0.7, 0.8]'))
    args = ["train", str(model), "--epochs", "25", "--seed", "3", "--quiet"]
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "brian2_delgrad", *args, "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = killed / "checkpoint.npz"
    deadline = time.time() + 120
    epoch = 0
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists():
            with np.load(checkpoint) as data:
                epoch = json.loads(data["meta"].tobytes().decode())["epoch"]
            if epoch >= 5:
                break
        time.sleep(0.02)
    process.send_signal(stop)
    stderr = process.communicate()[1]
    with np.load(checkpoint) as data:                       # never half-written
        meta = json.loads(data["meta"].tobytes().decode())
    assert 5 <= meta["epoch"] < 25, "the run was not killed mid-way"
    if stop == signal.SIGINT:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert process.returncode == 130 and "Traceback" not in stderr, stderr
        assert lines[-1] == (f"brian2-delgrad: stopped after epoch {meta['epoch']} (saved in {checkpoint}); run the "
                             "same command to continue"), stderr
    history = load_checkpoint(checkpoint).history                # its history log holds every epoch up to it
    assert sorted({row["epoch"] for row in history}) == list(range(meta["epoch"] + 1))
    resumed = run_cli(*args, "--out", str(killed))
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout
    straight = run_cli(*args, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0
    with np.load(killed / "parameters.npz") as a, np.load(tmp_path / "straight" / "parameters.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    history = pd.read_csv(killed / "history.csv")
    assert list(history[history.split == "train"].epoch) == list(range(1, 26))   # no epoch lost or repeated
    assert resumed.stdout.splitlines()[-1] == straight.stdout.splitlines()[-1]
    if connection == "sparse":
        from brian2_delgrad import DelayNetwork

        net = DelayNetwork.load(killed / "parameters.npz")
        assert net.is_sparse and all(np.all(w[~m] == 0) and np.all(w[m] != 0)
                                     for w, m in zip(net.weights, net.connectivity))


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path):
    assert main(["train", MODEL, "--epochs", "1", "--seed", "1", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["train", MODEL, "--epochs", "2", "--seed", "2", "--out", str(tmp_path), "--quiet"]) == 2
    assert main(["train", MODEL, "--epochs", "2", "--seed", "2", "--out", str(tmp_path), "--quiet",
                 "--restart"]) == 0


@pytest.mark.brian2
def test_train_on_the_brian2_substrate_agrees_with_the_exact_one(tmp_path, capsys):
    """An untrained network evaluated on Brian2 (cython target) classifies like the exact substrate."""
    for substrate in ("exact", "cython"):
        assert main(["train", MODEL, "--epochs", "0", "--substrate", substrate, "--seed", "4", "--quiet",
                     "--out", str(tmp_path / substrate)]) == 0
    exact, brian2 = (json.loads((tmp_path / s / "summary.json").read_text()) for s in ("exact", "cython"))
    assert brian2["substrate"] == "cython"
    assert abs(exact["test_accuracy"] - brian2["test_accuracy"]) <= 0.01
    with pytest.raises(SystemExit):
        main(["train", MODEL, "--dt", "0"])


@pytest.mark.brian2
def test_a_profile_model_trained_on_brian2_from_the_cli_has_the_profile_noise(tmp_path, monkeypatch):
    """`train models/yinyang_bss2_wa.toml --substrate numpy`: the Brian2 substrate carries the profile's noise
    and applies it (its spike times differ from a noise-free Brian2 run of the same network)."""
    from brian2_delgrad.files.modelfile import ModelFile, load_model_file
    from brian2_delgrad.substrates import SUBSTRATES, Brian2Substrate
    from brian2_delgrad.substrates.registry import SubstrateEntry

    made = []

    class Recorded(Brian2Substrate):
        def __init__(self, **options):
            super().__init__(**options)
            made.append(self)

    monkeypatch.setitem(SUBSTRATES, "numpy", SubstrateEntry(Recorded, dict(target="numpy")))
    full = ModelFile.data
    monkeypatch.setattr(ModelFile, "data", lambda self, split: tuple(a[:40] for a in full(self, split)))
    model = os.path.join(os.path.dirname(MODEL), "yinyang_bss2_wa.toml")
    assert main(["train", model, "--epochs", "1", "--substrate", "numpy", "--quiet", "--out", str(tmp_path)]) == 0
    description = load_model_file(model)
    expected = description.noise()
    # the substrates of the training and of the tests (the trained chip's pattern, new trial noise) and the one
    # whose settings the run's record holds: every one carries the profile's noise
    assert not expected.is_ideal and len(made) >= 2 and all(m.noise == expected for m in made)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["substrate"] == "numpy" and summary["noise"]["threshold_batch"] == expected.threshold_batch
    from brian2_delgrad import DelayNetwork

    net, inputs = DelayNetwork.load(tmp_path / "parameters.npz"), description.data("test")[0]
    noisy = made[0].run(net, inputs)[1]
    clean = Brian2Substrate(target="numpy", batch_size=40).run(net, inputs)[1]
    assert np.isfinite(clean).mean() > 0.5 and not np.array_equal(noisy, clean)
