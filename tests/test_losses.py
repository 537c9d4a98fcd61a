import warnings

import numpy as np
import pytest
from brian2 import mV

from brian2_delgrad.training.losses import ShiftInvariantMSE, TTFSCrossEntropy, predict_labels

TAU = 5e-3


def random_outputs(seed, batch=40, n_out=3):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.5, 3.0, size=(batch, n_out)) * TAU
    labels = rng.integers(0, n_out, size=batch)
    silent = rng.random((batch, n_out)) < 0.15
    silent[np.arange(batch), labels] = False
    times[silent] = np.inf
    return times, labels


@pytest.mark.parametrize("loss", [ShiftInvariantMSE(), ShiftInvariantMSE(margin=0.5), TTFSCrossEntropy(),
                                  TTFSCrossEntropy(xi=0.5, alpha=0.1, beta=2.0)])
def test_gradient_matches_finite_differences(loss):
    times, labels = random_outputs(0)
    value, grad = loss(times, labels, TAU)
    h = 1e-7 * TAU
    for k in range(times.shape[1]):
        finite = np.isfinite(times[:, k])
        up, down = times.copy(), times.copy()
        up[finite, k] += h
        down[finite, k] -= h
        numeric = (loss(up, labels, TAU)[0] - loss(down, labels, TAU)[0]) / (2 * h)
        np.testing.assert_allclose(grad[finite, k], numeric[finite], rtol=1e-6, atol=1e-6 / TAU)
        assert np.all(grad[~finite, k] == 0)
    assert np.all(np.isfinite(value))


def test_mse_is_shift_invariant_and_zero_at_the_margin():
    loss = ShiftInvariantMSE(margin=0.2)
    times = np.array([[1.0, 1.2, 1.2], [2.0, 1.0, 1.2]]) * TAU
    labels = np.array([0, 1])
    value, grad = loss(times, labels, TAU)
    np.testing.assert_allclose(value, [0.0, 0.5 * 0.8 ** 2], atol=1e-12)
    shifted, _ = loss(times + 3 * TAU, labels, TAU)
    np.testing.assert_allclose(shifted, value, atol=1e-12)
    np.testing.assert_allclose(grad[0], 0, atol=1e-9)


def test_cross_entropy_prefers_an_early_label():
    loss = TTFSCrossEntropy()
    good, _ = loss(np.array([[1.0, 2.0, 2.0]]) * TAU, np.array([0]), TAU)
    bad, _ = loss(np.array([[2.0, 1.0, 2.0]]) * TAU, np.array([0]), TAU)
    assert good[0] < bad[0]


@pytest.mark.parametrize("loss", [ShiftInvariantMSE(silent_loss=3.0), TTFSCrossEntropy(silent_loss=3.0)])
@pytest.mark.parametrize("times", [[np.inf, 1.0, 2.0], [np.inf] * 3])
def test_silent_label_costs_a_constant_without_gradient_or_warning(loss, times):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # an untrained network's silent outputs warn nothing
        value, grad = loss(np.array([times]) * TAU, np.array([0]), TAU)
    assert value[0] == 3.0 and np.all(grad == 0)


def test_prediction_is_the_earliest_spike_and_silence_is_wrong():
    times = np.array([[2.0, 1.0, 3.0], [np.inf, np.inf, 0.5], [np.inf] * 3])
    np.testing.assert_array_equal(predict_labels(times), [1, 2, -1])


@pytest.mark.parametrize("make, match", [
    (lambda: ShiftInvariantMSE(margin=-1), "margin"), (lambda: ShiftInvariantMSE(silent_loss=np.nan), "silent_loss"),
    (lambda: TTFSCrossEntropy(xi=0), "xi"), (lambda: TTFSCrossEntropy(beta=-1), "beta"),
    (lambda: TTFSCrossEntropy(alpha="a"), "alpha"),
])
def test_bad_loss_settings_are_rejected_when_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("loss", [ShiftInvariantMSE(), TTFSCrossEntropy()])
def test_bad_loss_inputs_name_the_argument(loss):
    with pytest.raises(ValueError, match="tau_s"):
        loss(np.ones((2, 3)) * TAU, np.array([0, 1]), -TAU)
    with pytest.raises(ValueError, match="output_times contains NaN"):
        loss(np.full((2, 3), np.nan), np.array([0, 1]), TAU)
    with pytest.raises(ValueError, match="labels must be integer labels"):
        loss(np.ones((2, 3)) * TAU, np.array([0.0, 1.0]), TAU)
    with pytest.raises(ValueError, match="output_times must be a time"):
        loss(np.ones((2, 3)) * mV, np.array([0, 1]), TAU)


def test_labels_may_be_a_list():
    times = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]]) * TAU
    for loss in (ShiftInvariantMSE(), TTFSCrossEntropy()):
        np.testing.assert_array_equal(loss(times, [0, 1], TAU)[1], loss(times, np.array([0, 1]), TAU)[1])


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="labels"):
        ShiftInvariantMSE()(np.ones((2, 3)), np.array([0, 3]), TAU)
    with pytest.raises(ValueError, match="labels"):
        TTFSCrossEntropy()(np.ones((2, 3)), np.array([0]), TAU)
