"""Substrate noise: validation, reproducibility, and its effect on the exact substrate."""
import numpy as np
import pytest
from brian2 import ms, mV

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel, Noise
from brian2_delgrad.substrates.noise import NoiseSource
from conftest import yin_yang_like_inputs


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold_pattern=(0.1, -0.1)), "threshold_pattern"), (dict(threshold_pattern=(0.1,)), "threshold_pattern"),
    (dict(threshold_trial=-0.1), "threshold_trial"), (dict(membrane=np.nan), "membrane"),
    (dict(delay_jitter=-1 * ms), "delay_jitter"), (dict(delay_jitter=1 * mV), "delay_jitter"),
    (dict(threshold_pattern=(0 * ms, 1 * ms)), "threshold_pattern"), (dict(threshold_pattern=0.1), "threshold_pattern"),
    (dict(threshold_trial="0.1"), "threshold_trial"), (dict(membrane=True), "membrane"),
    (dict(threshold_trial=0.1 * mV), "threshold_trial"), (dict(threshold_batch=-0.1), "threshold_batch"),
])
def test_bad_noise_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Noise(**kwargs)


def test_exact_substrate_refuses_membrane_noise():
    with pytest.raises(ValueError, match="Brian2Substrate"):
        ExactSubstrate(noise=Noise(membrane=0.05))


def test_a_constant_threshold_offset_is_a_higher_threshold():
    net = DelayNetwork([4, 20, 3], delays="synaptic", seed=1)
    x = yin_yang_like_inputs(50, seed=1)
    noisy = ExactSubstrate(noise=Noise(threshold_pattern=(0.3, 0.0)), seed=0).run(net, x)
    higher = net.copy()
    higher.model = LIFModel(theta=1.3)
    for a, b in zip(noisy, ExactSubstrate().run(higher, x)):
        np.testing.assert_array_equal(a, b)


def test_pattern_is_fixed_and_trial_noise_is_redrawn_reproducibly():
    net = DelayNetwork([4, 20, 3], delays="axonal", seed=2)
    x = yin_yang_like_inputs(40, seed=2)
    pattern = ExactSubstrate(noise=Noise(threshold_pattern=(0.0, 0.1)), seed=3)
    first, second = pattern.run(net, x), pattern.run(net, x)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))           # drawn once
    assert not np.array_equal(first[1], ExactSubstrate().run(net, x)[1])
    trial = Noise(threshold_trial=0.05, delay_jitter=0.05 * ms)
    a, b = ExactSubstrate(noise=trial, seed=4), ExactSubstrate(noise=trial, seed=4)
    runs_a = [a.run(net, x) for _ in range(2)]
    runs_b = [b.run(net, x) for _ in range(2)]
    assert np.array_equal(runs_a[1][2], runs_b[1][2], equal_nan=True)          # same seed, same numbers
    assert not np.array_equal(runs_a[0][1], runs_a[1][1])                      # redrawn every run
    other = ExactSubstrate(noise=trial, seed=5).run(net, x)
    assert not np.array_equal(other[1], runs_a[0][1])


def test_pattern_seed_keeps_the_chip_and_redraws_the_trial_noise():
    net = DelayNetwork([4, 20, 3], delays="axonal", seed=2)
    x = yin_yang_like_inputs(40, seed=2)
    pattern = Noise(threshold_pattern=(0.1, 0.1))
    same_chip = ExactSubstrate(noise=pattern, seed=99, pattern_seed=3).run(net, x)
    for a, b in zip(same_chip, ExactSubstrate(noise=pattern, seed=3).run(net, x)):
        np.testing.assert_array_equal(a, b)
    other_chip = ExactSubstrate(noise=pattern, seed=4).run(net, x)
    assert not np.array_equal(other_chip[1], same_chip[1])
    both = Noise(threshold_pattern=(0.1, 0.1), threshold_trial=0.05)
    theta_a = ExactSubstrate(noise=both, seed=3)._source.thresholds(net, 2000)
    theta_b = ExactSubstrate(noise=both, seed=8, pattern_seed=3)._source.thresholds(net, 2000)
    for a, b in zip(theta_a, theta_b):           # same pattern (mean over samples), other trial draws
        assert not np.array_equal(a, b)
        np.testing.assert_allclose(a.mean(axis=0), b.mean(axis=0), atol=4 * 0.05 * np.sqrt(2 / 2000))


def test_compiled_and_numpy_passes_agree_under_noise():
    net = DelayNetwork([4, 20, 10, 3], delays="axonal+synaptic", weight_init=(0.8, 1.0), seed=6)
    x = yin_yang_like_inputs(60, seed=6)
    noise = Noise(threshold_pattern=(0.1, 0.1), threshold_trial=0.05, delay_jitter=0.2 * ms)
    for model in (LIFModel(), LIFModel(tau_m=7.5 * ms)):
        net.model = model
        fast = ExactSubstrate(noise=noise, seed=7).run(net, x)
        reference = ExactSubstrate(noise=noise, seed=7, compiled=False).run(net, x)
        for a, b in zip(fast, reference):
            assert np.array_equal(np.isfinite(a), np.isfinite(b))
            np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-12)


def test_jitter_never_makes_a_spike_arrive_before_it_was_sent():
    """With zero delays and a large jitter, no neuron fires before its earliest input."""
    net = DelayNetwork([4, 20, 3], delays="none", weight_init=(3.0, 0.5), seed=8)
    x = yin_yang_like_inputs(50, seed=8)
    times = ExactSubstrate(noise=Noise(delay_jitter=5 * ms), seed=9).run(net, x)
    for layer in range(2):
        spiking = np.isfinite(times[layer + 1])
        earliest = times[layer].min(axis=1, keepdims=True)
        assert np.all(times[layer + 1][spiking] >= np.broadcast_to(earliest, spiking.shape)[spiking])


def test_jitter_spreads_spike_times_around_the_ideal_ones():
    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=10)
    x = yin_yang_like_inputs(200, seed=10)
    ideal = ExactSubstrate().run(net, x)[1]
    noisy = ExactSubstrate(noise=Noise(delay_jitter=0.05 * ms), seed=11).run(net, x)[1]
    both = np.isfinite(ideal) & np.isfinite(noisy)
    shift = noisy[both] - ideal[both]
    assert 0 < np.std(shift) < 1e-4 and abs(np.median(shift)) < 2e-5


def test_spike_jitter_shifts_every_spike_both_ways_and_only_the_exact_substrate_has_it():
    from brian2_delgrad import Brian2Substrate

    net = DelayNetwork([4, 20, 3], delays="none", seed=1)
    x = yin_yang_like_inputs(400, seed=1)
    ideal = ExactSubstrate().run(net, x)
    noisy = ExactSubstrate(noise=Noise(spike_jitter=0.05 * ms), seed=2).run(net, x)
    shift = noisy[0] - x                                       # the inputs themselves are shifted
    assert abs(shift.mean()) < 4 * 0.05e-3 / np.sqrt(shift.size) and shift.std() == pytest.approx(0.05e-3, rel=0.05)
    assert (shift < 0).mean() == pytest.approx(0.5, abs=0.05)  # earlier as often as later
    both = np.isfinite(ideal[1]) & np.isfinite(noisy[1])
    assert not np.array_equal(ideal[1][both], noisy[1][both])
    with pytest.raises(ValueError, match="spike jitter"):
        Brian2Substrate(noise=Noise(spike_jitter=0.05 * ms))


def test_batch_threshold_noise_is_shared_by_a_pass_and_redrawn_per_pass_run_and_seed():
    """Batch-to-batch noise: one offset per neuron and forward pass, the same for every sample of the pass."""
    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=1)
    one = yin_yang_like_inputs(1, seed=2)
    inputs = np.repeat(one, 12, axis=0)                               # the same sample 12 times
    noise = Noise(threshold_batch=0.1)

    def passes(seed, batch_size=4):
        substrate = ExactSubstrate(noise=noise, seed=seed, batch_size=batch_size)
        return substrate, substrate.run(net, inputs)

    substrate, first = passes(3)
    for times in first[1:]:
        blocks = times.reshape(3, 4, -1)                              # three passes of four
        assert all(np.array_equal(block, block[:1].repeat(4, axis=0)) for block in blocks)
        assert not np.array_equal(blocks[0], blocks[1]) and not np.array_equal(blocks[1], blocks[2])
    again = substrate.run(net, inputs)                                # a new run draws anew
    assert not np.array_equal(again[1][:4], first[1][:4])
    assert all(np.array_equal(a, b) for a, b in zip(passes(3)[1], first))           # same seed, same draws
    assert not np.array_equal(passes(4)[1][1], first[1])                            # another seed, others
    thresholds = NoiseSource(noise, seed=5).thresholds(net, 6)
    assert all(np.ptp(theta, axis=0).max() == 0 for theta in thresholds)           # shared by the pass
    assert np.std(thresholds[0][0] - net.model.theta) == pytest.approx(0.1, rel=0.35)
    trial = NoiseSource(Noise(threshold_trial=0.1), seed=5).thresholds(net, 6)
    assert np.ptp(trial[0], axis=0).min() > 0                          # trial noise: per sample


def test_a_whole_run_is_one_pass_without_batch_size():
    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=1)
    inputs = np.repeat(yin_yang_like_inputs(1, seed=2), 10, axis=0)
    times = ExactSubstrate(noise=Noise(threshold_batch=0.1), seed=1).run(net, inputs)
    assert all(np.array_equal(t, t[:1].repeat(10, axis=0)) for t in times[1:])
    with pytest.raises(ValueError, match="batch_size"):
        ExactSubstrate(batch_size=0)
