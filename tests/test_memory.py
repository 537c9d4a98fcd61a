"""Memory: estimates that hold, refusals before anything is allocated, forward passes in chunks with the same numbers."""
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import brian2_delgrad.utils.memory as memory
from brian2_delgrad import DelayNetwork, ExactSubstrate, Noise, Trainer
from brian2_delgrad.cli import main
from brian2_delgrad.utils.memory import MemoryLimitError, training_bytes

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.mark.parametrize("sizes", [[4, 30, 3], [64, 100, 10], [4, 3000, 3], [256, 246, 10]], ids=str)
@pytest.mark.parametrize("jitter", [False, True], ids=["ideal", "jitter"])
def test_the_training_estimate_holds_and_is_not_loose(sizes, jitter):
    """A training epoch (with validation and a checkpoint) takes at most the estimate, and over a third of it."""
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.15, 2, size=(300, sizes[0])) * 5e-3, np.arange(300) % sizes[-1]
    net = DelayNetwork(sizes, delays="synaptic", seed=0, weight_init=[(4.0 / k, 2.0 / k) for k in sizes[:-1]])

    def epoch():
        trainer = Trainer(net.copy(), substrate=ExactSubstrate(noise=Noise(delay_jitter=0.1e-3) if jitter else None,
                                                               seed=0), batch_size=100, progress=False)
        with tempfile.TemporaryDirectory() as folder:
            trainer.fit(x[:200], y[:200], validation=(x[200:], y[200:]), epochs=1,
                        checkpoint=Path(folder) / "checkpoint.npz")

    epoch()                                              # kernels derived and compiled outside the measurement
    tracemalloc.start()
    try:
        epoch()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = training_bytes(sizes, 100, jitter)
    assert peak <= estimate <= 3 * peak


def test_a_model_file_too_large_for_the_machine_is_refused_at_once(tmp_path, capsys):
    text = (MODELS / "yinyang_h30_ws.toml").read_text()
    assert "sizes = [4, 30, 3]" in text
    (tmp_path / "huge.toml").write_text(text.replace("sizes = [4, 30, 3]", "sizes = [4, 100000000, 3]"))
    main(["train", str(MODELS / "yinyang_h30_ws.toml"), "--epochs", "0", "--out", str(tmp_path / "warm"),
          "--quiet"])                                  # imports done: what is timed below is the refusal
    capsys.readouterr()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        code = main(["train", str(tmp_path / "huge.toml"), "--out", str(tmp_path / "out")])
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and seconds < 1.0 and peak < 50 * 2**20
    assert err.count("\n") == 1
    assert err.startswith("brian2-delgrad: error: huge: training a [4, 100000000, 3] network in batches of 150 "
                          "needs about ")
    assert "available" in err


def test_the_command_refuses_it_within_a_second(tmp_path):
    """The whole command, start-up included: the refusal comes before Brian2, SymPy and numba are loaded."""
    text = (MODELS / "yinyang_h30_ws.toml").read_text().replace("sizes = [4, 30, 3]", "sizes = [4, 100000000, 3]")
    (tmp_path / "huge.toml").write_text(text)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "brian2_delgrad", "train", str(tmp_path / "huge.toml"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    # refused before anything is allocated (4e8 weights would take seconds and 3 GB): well under 5 s, a margin for
    # the other test processes beside it
    assert done.returncode == 2 and seconds < 5.0, (done.returncode, seconds)
    assert done.stderr.count("\n") == 1 and "training a [4, 100000000, 3] network" in done.stderr
    assert not (tmp_path / "out").exists()


def test_networks_and_trainings_that_cannot_fit_are_refused_before_they_are_made(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(MemoryLimitError, match=r"a \[4, 10000000000, 3\] network needs about .* available"):
        DelayNetwork([4, 10**10, 3])
    assert time.perf_counter() - start < 1.0
    net = DelayNetwork([64, 100, 10])
    x, y = np.full((400, 64), 1e-3), np.arange(400) % 10
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**20)
    with pytest.raises(MemoryLimitError, match=r"training a \[64, 100, 10\] network in batches of 150 needs about "
                                               r"[\d.]+ MB of memory; this machine has 1.00 MB available"):
        Trainer(net, progress=False).fit(x, y, epochs=1)
    with pytest.raises(MemoryLimitError, match="in batches of 20 needs"):      # a batch larger than the data
        Trainer(net, batch_size=10**6, progress=False).fit(x[:20], y[:20], epochs=1)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)      # unknown: nothing refused
    Trainer(net, progress=False).fit(x[:20], y[:20], epochs=1)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
def test_a_forward_pass_in_chunks_gives_the_same_numbers(monkeypatch, compiled):
    """Delay jitter (and the NumPy pass) hold numbers per sample and synapse: run in chunks, the draws and the
    spike times are those of one piece."""
    net = DelayNetwork([20, 15, 3], seed=1, weight_init=[(0.15, 0.2), (0.6, 0.4)], delay_init=1.0)
    x = np.random.default_rng(1).uniform(0.15, 2, size=(50, 20)) * 5e-3
    noise = Noise(delay_jitter=0.2e-3, threshold_trial=0.02)
    whole = ExactSubstrate(noise=noise, seed=3, compiled=compiled).run(net, x)
    monkeypatch.setattr("brian2_delgrad.exact.forward.chunk_rows",
                        lambda rows, per_row: memory.chunk_rows(rows, per_row, budget=7 * per_row))
    chunked = ExactSubstrate(noise=noise, seed=3, compiled=compiled).run(net, x)
    assert 0.2 < np.isfinite(whole[1]).mean() < 1
    for a, b in zip(whole, chunked):
        assert a.tobytes() == b.tobytes()
    assert [len(range(50)[s]) for s in memory.chunk_rows(50, 10, budget=70)] == [7] * 7 + [1]
