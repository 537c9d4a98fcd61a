"""Brian2Substrate: agreement with the exact substrate, reuse without rebuilding, gradients in the loop."""
import tempfile

import numpy as np
import pytest
from brian2 import ms, us

from brian2_delgrad import DelayNetwork, ExactSubstrate, Trainer, backward
from brian2_delgrad.datasets import encode_times, yin_yang
from brian2_delgrad import Brian2Substrate
from conftest import yin_yang_like_inputs

DT = 1e-5
pytestmark = pytest.mark.brian2


@pytest.fixture(scope="module")
def numpy_substrate():
    return Brian2Substrate(dt=10 * us, target="numpy")


def compare(exact, simulated):
    """Spike-time differences in dt and the number of spike/no-spike disagreements."""
    differences, mismatches = [], 0
    for a, b in zip(exact[1:], simulated[1:]):
        mismatches += int((np.isfinite(a) != np.isfinite(b)).sum())
        both = np.isfinite(a) & np.isfinite(b)
        differences.append((b[both] - a[both]) / DT)
    return np.concatenate(differences), mismatches


def assert_same_spikes(a, b):
    """The same spikes up to floating-point rounding (targets compute the crossings in different code)."""
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.isfinite(u), np.isfinite(v))
        np.testing.assert_allclose(u[np.isfinite(u)], v[np.isfinite(v)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("placement, groups", [("none", None), ("axonal+dendritic+synaptic", None),
                                               ("axonal+synaptic", [[0, 1, 0, 1], 10])])
def test_precise_spike_times_agree_with_the_exact_substrate(numpy_substrate, placement, groups):
    net = DelayNetwork([4, 30, 3], delays=placement, seed=3, delay_groups=groups)
    inputs = yin_yang_like_inputs(60, seed=3)
    differences, mismatches = compare(ExactSubstrate().run(net, inputs), numpy_substrate.run(net, inputs))
    assert differences.size > 1000
    assert np.mean(np.abs(differences) <= 1e-6) >= 0.999       # arrivals and crossings between grid points
    assert np.all(np.abs(differences) <= 0.5)                  # two inputs inside one crossing's step: a little off
    assert mismatches <= 1                                     # ... or a grazing neuron decided differently


@pytest.mark.parametrize("placement", ["none", "axonal+dendritic+synaptic"])
def test_grid_spike_times_agree_with_the_exact_substrate_within_the_grid(placement):
    net = DelayNetwork([4, 30, 3], delays=placement, seed=3)
    inputs = yin_yang_like_inputs(60, seed=3)
    simulated = Brian2Substrate(dt=10 * us, target="numpy", timing="grid").run(net, inputs)
    differences, mismatches = compare(ExactSubstrate().run(net, inputs), simulated)
    for times in simulated[1:]:
        steps = times[np.isfinite(times)] / DT
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)   # plain Brian2: spikes on the grid
    assert differences.size > 1000
    assert np.mean(np.abs(differences) <= 2) >= 0.99
    assert np.mean(np.abs(differences) <= 0.01) < 0.2           # so the precise test above measures something
    assert abs(differences.mean()) < 0.6                       # no systematic lateness beyond half a step
    assert mismatches <= 2


def test_network_is_built_once_and_follows_new_parameters(numpy_substrate):
    net = DelayNetwork([4, 12, 3], delays="axonal+synaptic", seed=4)
    inputs = yin_yang_like_inputs(40, seed=4)
    numpy_substrate.run(net, inputs)
    built = dict(numpy_substrate._built)
    net.weights[0] = net.weights[0] * 1.3
    net.delays[0]["axonal"] = net.delays[0]["axonal"] + 1e-3
    differences, mismatches = compare(ExactSubstrate().run(net, inputs), numpy_substrate.run(net, inputs))
    assert numpy_substrate._built == built                     # same simulation object: nothing rebuilt
    assert np.mean(np.abs(differences) <= 2) >= 0.99 and mismatches <= 1


def test_smaller_and_larger_runs_pad_and_chunk_without_rebuilding(numpy_substrate):
    net = DelayNetwork([4, 6, 3], delays="synaptic", seed=5)
    inputs = yin_yang_like_inputs(25, seed=5)
    whole = numpy_substrate.run(net, inputs[:10])              # builds for 10 copies
    built = dict(numpy_substrate._built)
    small = numpy_substrate.run(net, inputs[:3])               # padded
    large = numpy_substrate.run(net, inputs)                   # 10 + 10 + 5
    assert numpy_substrate._built == built
    for a, b, c in zip(whole, small, large):
        np.testing.assert_array_equal(b, a[:3])
        np.testing.assert_array_equal(c[:10], a)
    assert [t.shape for t in large] == [(25, 4), (25, 6), (25, 3)]


def test_cython_and_numpy_targets_give_the_same_spikes(numpy_substrate):
    net = DelayNetwork([4, 10, 3], delays="axonal+dendritic+synaptic", seed=6)
    inputs = yin_yang_like_inputs(20, seed=6)
    a = numpy_substrate.run(net, inputs)
    b = Brian2Substrate(dt=10 * us, target="cython").run(net, inputs)
    assert_same_spikes(a, b)


def test_gradients_from_recorded_spikes_point_the_same_way(numpy_substrate):
    net = DelayNetwork([4, 30, 3], delays="axonal+synaptic", seed=7)
    inputs = yin_yang_like_inputs(150, seed=7)
    exact, simulated = ExactSubstrate().run(net, inputs), numpy_substrate.run(net, inputs)
    labels = np.random.default_rng(7).integers(0, 3, size=150)
    from brian2_delgrad.training.losses import ShiftInvariantMSE
    grads = [backward(net, times, ShiftInvariantMSE()(times[-1], labels, 5e-3)[1]) for times in (exact, simulated)]
    pairs = [(a, b) for a, b in zip(grads[0].weights, grads[1].weights)]
    pairs += [(a[p], b[p]) for a, b in zip(grads[0].delays, grads[1].delays) for p in a]
    for a, b in pairs:
        cosine = np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cosine >= 1 - 1e-6                              # the same spikes to rounding: the same gradient


def test_trainer_learns_in_the_loop_as_on_the_exact_substrate():
    X, y = yin_yang(450, seed=42)
    inputs = encode_times(X, 5 * ms)
    nets, scores = [], []
    for substrate in (Brian2Substrate(dt=10 * us, target="cython"), ExactSubstrate()):
        net = DelayNetwork([4, 12, 3], delays="synaptic", seed=3)
        trainer = Trainer(net, substrate=substrate, lr_weights=0.03, lr_delays=0.01, batch_size=50, seed=3,
                          progress=False)
        before = trainer.score(inputs, y)
        trainer.fit(inputs, y, epochs=3)
        nets.append(net)
        scores.append(trainer.score(inputs, y))
    assert scores[0] > max(0.6, before + 0.15)
    # precise timing: the in-the-loop run follows the exact one to rounding
    assert scores[0] == scores[1]
    for brian2_trained, exact_trained in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_allclose(brian2_trained, exact_trained, rtol=0, atol=1e-8)
    for brian2_trained, exact_trained in zip(nets[0].delays, nets[1].delays):
        np.testing.assert_allclose(brian2_trained["synaptic"], exact_trained["synaptic"], rtol=0, atol=1e-8 * 5e-3)


def test_in_the_loop_training_under_batch_noise_resumes_bit_identically(tmp_path):
    """The hardware profile's kind of noise on Brian2 (cpp_standalone, built once): a run cut after one epoch
    and resumed, with the substrate's noise state moved on in between, ends with the parameters of the
    uninterrupted run: the checkpoint restores the noise stream."""
    from brian2_delgrad import Noise

    X, y = yin_yang(200, seed=7)
    inputs = encode_times(X, 5 * ms)
    noise = Noise(threshold_pattern=(0.0, 0.05), threshold_batch=0.05, delay_jitter=0.05 * ms)
    substrate = Brian2Substrate(dt=10 * us, target="cpp_standalone", batch_size=50, noise=noise, seed=1)
    initial = substrate.random_state

    def trainer():
        return Trainer(DelayNetwork([4, 12, 3], delays="synaptic", seed=3), substrate=substrate, batch_size=50,
                       seed=3, progress=False)

    data = dict(X=inputs[:150], y=y[:150], validation=(inputs[150:], y[150:]))
    straight = trainer()
    straight.fit(**data, epochs=2)
    substrate.random_state = initial
    first = trainer()
    first.fit(**data, epochs=1, checkpoint=tmp_path / "c.npz")
    substrate.run(first.net, inputs)                                 # the noise stream moves on
    second = trainer()
    second.fit(**data, epochs=2, resume=tmp_path / "c.npz")
    for a, b in zip(straight.net.weights, second.net.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.net.delays[0]["synaptic"], second.net.delays[0]["synaptic"])
    quiet = Trainer(DelayNetwork([4, 12, 3], delays="synaptic", seed=3), batch_size=50, seed=3, progress=False)
    quiet.fit(**data, epochs=2)                                      # the noise did act on training
    assert not np.array_equal(quiet.net.weights[0], straight.net.weights[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(target="cuda"), "target"), (dict(dt=-1 * us), "dt"), (dict(batch_size=0), "batch_size"),
    (dict(window=0), "window"), (dict(timing="exact"), "timing"), (dict(directory=123), "directory"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Brian2Substrate(**kwargs)


def test_inputs_it_cannot_simulate_are_errors_before_anything_is_built(tmp_path, monkeypatch):
    """Negative input times, a step as long as a time constant; and no folder left behind by runtime targets."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    net = DelayNetwork([4, 5, 3], seed=0)
    with pytest.raises(ValueError, match="input_times must be >= 0"):
        Brian2Substrate(target="numpy").run(net, -np.ones((2, 4)) * ms)
    with pytest.raises(ValueError, match="dt = 10 s is too coarse"):
        Brian2Substrate(dt=10, target="numpy").run(net, np.ones((2, 4)) * ms)
    assert list(tmp_path.iterdir()) == []


def test_threshold_noise_and_jitter_match_the_exact_substrate_draw_for_draw():
    """Same seed, same noise: the Brian2 and exact substrates draw identical thresholds and jitter."""
    from brian2_delgrad import Noise

    net = DelayNetwork([4, 20, 3], delays="axonal+synaptic", seed=9)
    inputs = yin_yang_like_inputs(40, seed=9)
    noise = Noise(threshold_pattern=(0.1, 0.1), threshold_trial=0.05, threshold_batch=0.05, delay_jitter=0.1 * ms)
    exact = ExactSubstrate(noise=noise, seed=12, batch_size=16).run(net, inputs)      # passes of 16, 16, 8
    simulated = Brian2Substrate(dt=10 * us, target="numpy", noise=noise, seed=12, batch_size=16).run(net, inputs)
    differences, mismatches = compare(exact, simulated)
    assert np.mean(np.abs(differences) <= 1e-6) >= 0.999 and mismatches <= 1
    ideal = ExactSubstrate().run(net, inputs)
    assert compare(ideal, simulated)[0].std() > 5 * differences.std()   # the noise is really there


def test_membrane_noise_is_seeded():
    from brian2_delgrad import Noise

    net = DelayNetwork([4, 10, 3], delays="synaptic", seed=10)
    inputs = yin_yang_like_inputs(20, seed=10)
    noise = Noise(membrane=0.05)
    a = Brian2Substrate(dt=10 * us, target="numpy", noise=noise, seed=1).run(net, inputs)
    b = Brian2Substrate(dt=10 * us, target="numpy", noise=noise, seed=1).run(net, inputs)
    c = Brian2Substrate(dt=10 * us, target="numpy", noise=noise, seed=2).run(net, inputs)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    differences, _ = compare(ExactSubstrate().run(net, inputs), a)
    assert 2 < np.median(np.abs(differences)) < 200        # perturbed, not destroyed


def test_vanishing_membrane_noise_gives_the_exact_spikes():
    """Between the noise kicks the membrane follows the free solution: no integration error is left."""
    from brian2_delgrad import Noise

    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=3)
    inputs = yin_yang_like_inputs(40, seed=3)
    simulated = Brian2Substrate(dt=10 * us, target="numpy", noise=Noise(membrane=1e-12), seed=1).run(net, inputs)
    differences, mismatches = compare(ExactSubstrate().run(net, inputs), simulated)
    assert differences.size > 500 and mismatches == 0
    assert np.max(np.abs(differences)) <= 1e-6        # in dt (Euler-Maruyama: median 0.4 dt, up to ~20 dt)


def test_membrane_noise_has_the_stationary_spread_it_is_given():
    """A free membrane under the noise kicks fluctuates with standard deviation ``membrane`` (an OU process)."""
    from brian2_delgrad import Noise, LIFModel

    net = DelayNetwork([4, 100, 3], delays="none", model=LIFModel(theta=1e6), seed=0)   # never fires
    substrate = Brian2Substrate(dt=10 * us, target="numpy", noise=Noise(membrane=0.2), seed=4)
    substrate.run(net, np.full((40, 4), np.inf))                       # no inputs: the noise alone
    (simulation,) = substrate._built.values()
    v = np.concatenate([np.asarray(layer.group.v[:]) for layer in simulation.objects.layers])
    assert v.size == 40 * 103 and abs(np.mean(v)) < 0.02
    assert np.std(v) == pytest.approx(0.2, rel=0.05)


def test_membrane_noise_crossings_stay_in_the_step_of_detection():
    from brian2_delgrad import Noise

    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=3)
    substrate = Brian2Substrate(dt=10 * us, target="numpy", noise=Noise(membrane=0.1), seed=1)
    substrate.run(net, yin_yang_like_inputs(40, seed=3))
    (simulation,) = substrate._built.values()
    for layer in simulation.objects.layers:              # the free solution does not know the noise: no search beyond
        offsets = (np.asarray(layer.monitor.t_spike_) - np.asarray(layer.monitor.t_)) / DT
        assert offsets.size > 50 and offsets.min() >= 0 and offsets.max() <= 1 + 1e-9


def test_precise_crossing_with_delays_off_the_grid():
    net = DelayNetwork([1, 1, 1], delays="synaptic", seed=0)
    net.weights[0][:] = net.weights[1][:] = 2000.0         # crossings right after the arrivals
    net.delays[0]["synaptic"][:] = 0.51 * DT                # grid timing rounds both delays up ...
    net.delays[1]["synaptic"][:] = 1.51 * DT                # ... and detects the output more than 2 dt late
    inputs = np.zeros((1, 1))
    exact = ExactSubstrate().run(net, inputs)
    precise = Brian2Substrate(dt=10 * us, target="numpy").run(net, inputs)
    grid = Brian2Substrate(dt=10 * us, target="numpy", timing="grid").run(net, inputs)
    np.testing.assert_allclose(precise[2], exact[2], rtol=0, atol=1e-6 * DT)
    assert grid[2][0, 0] - exact[2][0, 0] > 2 * DT


def test_an_inhibitory_input_inside_the_crossing_step_acts_at_its_exact_time():
    """Arriving just before the crossing it prevents the spike; just after, it cannot undo it."""
    net = DelayNetwork([2, 1], delays="none", seed=0)
    w_exc, w_inh = 3.0, -20.0
    net.weights[0][:] = [[w_exc], [w_inh]]
    exact = ExactSubstrate()
    alone = exact.run(net, np.array([[0.0, np.inf]]))[1][0, 0]
    start = (np.floor(alone / DT) + 10.5) * DT - alone       # the excitatory input's crossing in mid-step
    crossing = start + alone
    inputs = np.array([[start, crossing - 0.3 * DT], [start, crossing + 0.3 * DT]])
    expected = exact.run(net, inputs)[1][:, 0]
    assert np.isinf(expected[0]) and expected[1] == pytest.approx(crossing, abs=1e-9 * DT)
    tau_m, tau_s, theta = net.model.tau_m_, net.model.tau_s_, net.model._theta

    def membrane(time):
        """v at ``time`` of the second sample (both inputs)."""
        lags = time - inputs[1]
        psp = tau_m / (tau_m - tau_s) * (np.exp(-lags / tau_m) - np.exp(-lags / tau_s))
        return float(np.sum(np.where(lags > 0, [w_exc, w_inh] * psp, 0.0)))

    assert membrane(crossing + 0.5 * DT) < theta             # below threshold again at the end of the step
    simulated = Brian2Substrate(dt=10 * us, target="numpy").run(net, inputs)[1][:, 0]
    assert np.isinf(simulated[0])
    assert simulated[1] == pytest.approx(crossing, abs=1e-6 * DT)


def test_cpp_standalone_is_compiled_once_and_matches_the_runtime_targets(numpy_substrate, tmp_path):
    net = DelayNetwork([4, 10, 3], delays="axonal+dendritic+synaptic", seed=11)
    inputs = yin_yang_like_inputs(30, seed=11)
    standalone = Brian2Substrate(dt=10 * us, target="cpp_standalone", directory=str(tmp_path / "cpp"))
    first = standalone.run(net, inputs)
    binary = (tmp_path / "cpp" / "main").stat().st_mtime
    net.weights[0] = net.weights[0] * 1.2
    net.delays[1]["synaptic"] = net.delays[1]["synaptic"] * 0.5
    second = standalone.run(net, inputs[:12])                       # new parameters, padded batch
    assert (tmp_path / "cpp" / "main").stat().st_mtime == binary    # not recompiled
    assert_same_spikes(second, numpy_substrate.run(net, inputs[:12]))
    assert not np.array_equal(first[1][:12], second[1])
    leftovers = [p.name for p in (tmp_path / "cpp" / "static_arrays").iterdir() if p.name.startswith("init_")]
    assert leftovers == []                                          # run_args files are deleted
    with pytest.raises(ValueError, match="one network shape"):
        standalone.run(DelayNetwork([4, 5, 3], seed=0), inputs)


def test_noise_stays_draw_for_draw_identical_when_chunked_padded_and_repeated():
    from brian2_delgrad import Noise

    net = DelayNetwork([4, 20, 3], delays="synaptic", seed=13)
    inputs = yin_yang_like_inputs(40, seed=13)
    noise = Noise(threshold_pattern=(0.05, 0.1), threshold_trial=0.05, delay_jitter=0.1 * ms, threshold_batch=0.05)
    # one forward pass per run, simulated in chunks of the built size (15: the first run's) + padding: 15+15+10
    exact = ExactSubstrate(noise=noise, seed=3)
    simulated = Brian2Substrate(dt=10 * us, target="cython", noise=noise, seed=3)
    # passes of 15 samples: 15+15+10, each its own batch-noise draw
    exact_passes = ExactSubstrate(noise=noise, seed=3, batch_size=15)
    simulated_passes = Brian2Substrate(dt=10 * us, target="cython", noise=noise, seed=3, batch_size=15)
    # ... and the same passes in one simulation of 40 copies
    exact_again = ExactSubstrate(noise=noise, seed=3, batch_size=15)
    one_simulation = Brian2Substrate(dt=10 * us, target="cython", noise=noise, seed=3, batch_size=15, copies=40)
    for a, b in ((exact, simulated), (exact_passes, simulated_passes), (exact_again, one_simulation)):
        for batch in (inputs[:15], inputs):
            differences, mismatches = compare(a.run(net, batch), b.run(net, batch))
            assert np.mean(np.abs(differences) <= 2) >= 0.99 and mismatches <= 2
