"""The compiled kernels on several threads: the same numbers bit for bit, the count settable, wide layers exact."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import brian2_delgrad
from brian2_delgrad import (DelayNetwork, ExactSubstrate, LIFModel, Noise, backward, get_num_threads,
                            set_num_threads)
from brian2_delgrad.cli import main
from brian2_delgrad.exact.kernel_cache import kernel_module
from brian2_delgrad.utils.threads import CHOOSER, ENVIRONMENT, ThreadChooser
from conftest import yin_yang_like_inputs

MAX = numba.config.NUMBA_NUM_THREADS


def _wide_inputs(batch, n_in, seed):
    """Input times with ties (rounded to 0.05 tau_s) and silent inputs, as encoded images have."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(0.15, 2.0, size=(batch, n_in)) * 20) / 20 * 5e-3
    x[rng.random(x.shape) < 0.2] = np.inf
    return x


def _everything(net, inputs, threads, noise=None):
    times = ExactSubstrate(noise=noise, seed=4, threads=threads).run(net, inputs)
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(0).normal(size=times[-1].shape), 0.0)
    grads = backward(net, times, error, max_weight_gradient=0.5, threads=threads)
    return times + grads.weights + [d for layer in grads.delays for d in layer.values()] + [grads.input_times]


@pytest.mark.skipif(MAX < 2, reason="needs two threads")
@pytest.mark.parametrize("delays", ["none", "dendritic", "axonal+synaptic"])
@pytest.mark.parametrize("noisy", [False, True], ids=["ideal", "jitter"])
def test_spike_times_and_gradients_are_identical_for_any_thread_count(delays, noisy):
    net = DelayNetwork([120, 40, 5], delays=delays, seed=3, weight_init=[(2.5 / 120, 3 / 120), (0.4, 0.4)],
                       delay_init=1.0, connectivity=None)
    inputs = _wide_inputs(37, 120, seed=3)                  # an odd batch: threads get unequal shares
    noise = Noise(delay_jitter=0.1e-3, threshold_trial=0.01) if noisy else None
    one, two = _everything(net, inputs, 1, noise), _everything(net, inputs, 2, noise)
    assert 0.2 < np.isfinite(one[1]).mean() < 1
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("ratio, mean_weight", [(1.0, 4.0), (2.0, 2.8), (1.5, 3.0)])
@pytest.mark.parametrize("delays", ["none", "synaptic"])
def test_a_wide_layer_agrees_with_the_numpy_reference(ratio, mean_weight, delays):
    """Fan-in 300: the sort, the shared order and the skipped crossings against the vectorised reference."""
    from brian2 import ms
    from brian2_delgrad import LIFModel

    net = DelayNetwork([300, 20, 3], delays=delays, model=LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms), seed=1,
                       weight_init=[(mean_weight / 300, 3 / 300), (0.4, 0.4)], delay_init=1.0)
    inputs = _wide_inputs(12, 300, seed=1)
    fast = ExactSubstrate().run(net, inputs)
    reference = ExactSubstrate(compiled=False).run(net, inputs)
    assert 0.2 < np.isfinite(fast[1]).mean() < 1
    for a, b in zip(fast[1:], reference[1:]):
        assert np.array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-13)


@pytest.mark.parametrize("case", ["spread", "ties", "bunched", "silent", "one", "few", "subnormal", "overflow"])
def test_the_sort_is_numpys_stable_sort_with_silent_inputs_last(case):
    kernel = kernel_module(LIFModel())                    # the sort and its scratch as compiled into the kernels
    rng = np.random.default_rng(0)
    values = {"spread": rng.uniform(0, 3, 500),
              "ties": np.round(rng.uniform(0, 3, 500), 1),
              "bunched": np.concatenate([rng.uniform(0, 1e-9, 499), [1e3]]),    # one bucket: the merge-sort fallback
              "silent": np.where(rng.random(500) < 0.5, np.inf, rng.uniform(0, 3, 500)),
              "one": np.array([0.5]),
              "few": np.array([0.3, np.inf, 0.1, 0.3, 0.2, np.inf, 0.1, 0.05]),          # one insertion sort
              "subnormal": np.concatenate([np.zeros(20), [5e-324], np.zeros(5), [2e-309, 1e-309]]),
              "overflow": np.array([-1e308, 1e308, np.inf] + [0.0] * 15)}[case]    # high - low overflows
    order, counts, runs = kernel.sort_scratch(values.size)
    guarded = np.full(counts.size + 8, -7, dtype=np.int64)                   # 8 guards after the scratch
    n_finite = kernel.stable_sort(values, order, guarded[:-8], runs)
    assert np.all(guarded[-8:] == -7)
    expected = np.argsort(values, kind="stable")
    assert n_finite == np.isfinite(values).sum()
    assert np.array_equal(order[:n_finite], expected[:n_finite])
    assert sorted(order[n_finite:]) == sorted(expected[n_finite:])


def test_the_thread_count_comes_from_the_argument_the_process_default_or_the_environment(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert get_num_threads() == MAX
    monkeypatch.setenv(ENVIRONMENT, "1")
    assert get_num_threads() == 1
    try:
        set_num_threads(MAX)
        assert get_num_threads() == MAX and get_num_threads(1) == 1
    finally:
        set_num_threads(None)
    assert get_num_threads() == 1
    monkeypatch.setenv(ENVIRONMENT, "two")
    with pytest.raises(ValueError, match=f"{ENVIRONMENT} must be a whole number of threads, got 'two'"):
        get_num_threads()
    for bad in (0, MAX + 1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            ExactSubstrate(threads=bad)
    with pytest.raises(ValueError, match=f"more than the {MAX} threads numba can start"):
        backward(DelayNetwork([2, 2]), [np.zeros((1, 2)), np.full((1, 2), np.inf)], np.zeros((1, 2)),
                 threads=MAX + 1)
    assert "set_num_threads" in brian2_delgrad.__all__


def test_the_default_thread_count_is_the_faster_one_as_measured_and_follows_the_load():
    """One thread or all, whichever the last calls of a kind measured faster; a change of load changes it."""
    chooser = ThreadChooser()

    def calls(n, seconds):
        counts = []
        for _ in range(n):
            counts.append(chooser.choose("pass", 2))
            chooser.record("pass", counts[-1], seconds[counts[-1]])
        return counts

    busy = calls(200, {1: 1.0, 2: 3.0})                   # another process keeps a core busy
    assert busy[:8] == [2, 1, 2, 1, 2, 1, 2, 1]          # both measured in turns, the first of each untimed
    assert busy.count(2) == 4 + len(busy) // ThreadChooser.RECHECK      # then one, rechecking two
    quiet = calls(400, {1: 1.0, 2: 0.6})                 # the machine is quiet again
    assert quiet[-100:].count(1) <= 100 // ThreadChooser.RECHECK + 1
    assert calls(1, {1: 1.0, 2: 0.6}) == [2] and chooser.choose("another pass", 2) == 2    # kinds apart
    hiccups, slowed = [], np.random.default_rng(0).random(400) < 0.25     # a quarter of the calls on two threads
    for call in range(400):                                                # slowed by a moment's load: still faster
        hiccups.append(chooser.choose("pass", 2))
        chooser.record("pass", hiccups[-1], 1.0 if hiccups[-1] == 1 else (1.6 if slowed[call] else 0.6))
    assert hiccups.count(1) <= 400 // ThreadChooser.RECHECK + 1


def test_by_default_every_call_is_timed_and_gives_the_numbers_of_one_thread(monkeypatch):
    """With no count given anywhere, the kernels run through the process's chooser: both counts get measured,
    and every call gives the spike times of one thread, bit for bit."""
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    net = DelayNetwork([4, 20, 3], delays="synaptic", seed=6, weight_init=(1.0, 0.5))
    x = yin_yang_like_inputs(37, seed=6)
    one = ExactSubstrate(threads=1).run(net, x)
    for _ in range(10):
        assert all(np.array_equal(a, b) for a, b in zip(ExactSubstrate().run(net, x), one))
    measured = {count for (kind, count), times in CHOOSER._times.items() if kind[1] == 37 and times}
    assert measured == ({1, MAX} if MAX > 1 else set())


def test_the_cli_refuses_a_bad_thread_count(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["gradcheck", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("loss", ["built-in", "own"])
def test_a_trainer_runs_its_passes_on_its_substrates_threads(monkeypatch, loss):
    """A built-in loss: the whole epoch in one compiled call; any other: forward, loss and backward one after the
    other."""
    from brian2_delgrad import ShiftInvariantMSE, Trainer
    from brian2_delgrad.exact import compiled

    seen = []
    original = compiled.kernel_threads

    def spy(threads=None, kind=None):
        seen.append((kind[0], threads))
        return original(threads, kind)

    class OwnLoss:
        def __call__(self, *args):
            return ShiftInvariantMSE()(*args)

    monkeypatch.setattr(compiled, "kernel_threads", spy)
    net = DelayNetwork([4, 10, 3], seed=0)
    x, y = yin_yang_like_inputs(30), np.arange(30) % 3
    Trainer(net, substrate=ExactSubstrate(threads=1), loss=None if loss == "built-in" else OwnLoss(), batch_size=10,
            hidden_silence=1, output_silence=1, progress=False).fit(x, y, epochs=1)
    assert set(seen) == ({("epoch", 1)} if loss == "built-in" else {("forward", 1), ("backward", 1)})


@pytest.mark.parametrize("environment, expected", [({}, "1000"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "None")])
def test_idle_openmp_threads_spin_briefly_unless_the_user_said_otherwise(environment, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = "import os, brian2_delgrad.utils.threads; print(os.environ.get('GOMP_SPINCOUNT'))"
    result = subprocess.run([sys.executable, "-c", code], env=dict(env, **environment), capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == [str(expected)]
