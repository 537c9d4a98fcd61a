"""The compiled training step (forward pass, built-in loss and backward pass in one call) against its parts."""
import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, ShiftInvariantMSE, TTFSCrossEntropy, Trainer, backward
from brian2_delgrad.core.network import random_connectivity
from brian2_delgrad.exact import compiled
from brian2_delgrad.exact.backward_kernel import WIDE
from brian2_delgrad.substrates.noise import Noise
from brian2_delgrad.training.losses import kernel_loss, predict_labels
from conftest import yin_yang_like_inputs


def _data(n, seed):
    x = yin_yang_like_inputs(n, seed=seed)
    x[np.random.default_rng(seed).random(x.shape) < 0.1] = np.inf
    return x, np.arange(n) % 3


def _wide_data(n, n_in, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.15, 2.0, size=(n, n_in)) * 5e-3
    x[rng.random(x.shape) < 0.3] = np.inf
    return x, np.arange(n) % 3


def _in_turn(substrate, net, x, y, loss, limit):
    """Forward pass, loss and backward pass one after the other, as a Trainer runs them with a loss of its own."""
    times = substrate.run(net, x)
    losses, dL_dT = loss(times[-1], y, net.model.tau_s_)
    gradients = backward(net, times, dL_dT, max_weight_gradient=limit, threads=substrate.threads)
    return times, losses, predict_labels(times[-1]) == y, gradients


def _substrate(threads, noisy):
    noise = Noise(threshold_pattern=(0.02, 0.0), threshold_trial=0.01, threshold_batch=0.01) if noisy else None
    return ExactSubstrate(threads=threads, noise=noise, seed=4, batch_size=25 if noisy else None)


@pytest.mark.parametrize("sizes, delays, sparse, threads, limit, block, noisy", [
    ([4, 30, 3], "synaptic", False, 1, None, None, False),
    ([4, 30, 3], "synaptic", False, 2, 0.2, None, True),
    ([4, 20, 10, 3], "axonal+dendritic", True, 2, 0.01, 7, False),
    ([4, 20, 10, 3], "axonal+synaptic", False, 1, 0.2, 7, True),
    ([4, 20, 10, 3], "dendritic", True, 2, None, 1, False),
    ([WIDE + 10, 40, 3], "none", False, 2, 0.005, None, False),           # wide: layer by layer, chunks of neurons
    ([WIDE + 10, 40, 3], "axonal+synaptic", True, 1, None, None, True),
])
def test_the_step_equals_forward_loss_and_backward_bit_for_bit(monkeypatch, sizes, delays, sparse, threads, limit,
                                                               block, noisy):
    """Spike times, losses, predictions and every gradient, in blocks of samples or not, with threshold noise drawn
    per pass, the guard on or off, on one thread or two."""
    weight_init = (0.6, 1.0) if sizes[0] == 4 else [(6.0 / sizes[0], 2.0 / sizes[0]), (0.6, 0.3)]
    net = DelayNetwork(sizes, delays=delays, weight_init=weight_init, seed=2,
                       connectivity=random_connectivity(sizes, 0.7, 2) if sparse else None)
    if block is not None:                          # blocks of `block` samples in the backward pass
        monkeypatch.setattr(compiled, "BLOCK_BYTES", 16 * sum(w.size for w in net.weights) * block)
    x, y = _data(60, seed=2) if sizes[0] == 4 else _wide_data(60, sizes[0], seed=2)
    loss = ShiftInvariantMSE()
    limit_value = np.inf if limit is None else limit
    times, losses, correct, gradients = _substrate(threads, noisy).step(net, x, y, kernel_loss(loss), limit_value)
    expected = _in_turn(_substrate(threads, noisy), net, x, y, loss, limit)
    for ours, theirs in zip(times, expected[0]):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(losses, expected[1])
    np.testing.assert_array_equal(correct, expected[2])
    assert gradients.guarded == expected[3].guarded and (limit is None) == (gradients.guarded == 0)
    np.testing.assert_array_equal(gradients.input_times, expected[3].input_times)
    for k in range(len(net.weights)):
        np.testing.assert_array_equal(gradients.weights[k], expected[3].weights[k])
        assert gradients.delays[k].keys() == expected[3].delays[k].keys()
        for placement, value in gradients.delays[k].items():
            np.testing.assert_array_equal(value, expected[3].delays[k][placement])
    assert 0.2 < np.mean(np.isfinite(times[-1])) and np.abs(gradients.weights[0]).max() > 0


def test_the_cross_entropy_step_matches_numpy_to_rounding():
    """The exponentials of the cross-entropy are numba's in the step and NumPy's in the loss: equal to rounding."""
    net = DelayNetwork([4, 30, 3], delays="synaptic", weight_init=(0.6, 1.0), seed=3)
    x, y = _data(80, seed=3)
    loss = TTFSCrossEntropy()
    times, losses, correct, gradients = ExactSubstrate().step(net, x, y, kernel_loss(loss), np.inf)
    expected = _in_turn(ExactSubstrate(), net, x, y, loss, None)
    np.testing.assert_array_equal(times[-1], expected[0][-1])
    np.testing.assert_allclose(losses, expected[1], rtol=1e-14)
    np.testing.assert_array_equal(correct, expected[2])
    for ours, theirs in zip(gradients.weights + [gradients.delays[0]["synaptic"]],
                            expected[3].weights + [expected[3].delays[0]["synaptic"]]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12 * np.abs(theirs).max())


def test_a_trainer_trains_the_same_with_the_step_as_with_its_parts():
    """A built-in loss takes the compiled step; a subclass of it (which might compute otherwise) the three parts:
    the same parameters after two epochs, bit for bit."""
    class SameLoss(ShiftInvariantMSE):
        pass

    x, y = _data(90, seed=5)
    trained = []
    for loss in (ShiftInvariantMSE(), SameLoss()):
        net = DelayNetwork([4, 12, 3], delays="axonal+synaptic", weight_init=(0.6, 1.0), seed=5)
        history = Trainer(net, loss=loss, batch_size=30, max_weight_gradient=0.2, progress=False,
                          seed=1).fit(x, y, epochs=2)
        trained.append((net, history))
    (fused, fused_history), (parts, parts_history) = trained
    assert kernel_loss(ShiftInvariantMSE()) is not None and kernel_loss(SameLoss()) is None
    for a, b in zip(fused.weights, parts.weights):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fused.delays, parts.delays):
        for placement in a:
            np.testing.assert_array_equal(a[placement], b[placement])
    columns = ["loss", "accuracy", "skipped", "guarded", "nonfinite"]
    assert fused_history[columns].equals(parts_history[columns])
    assert not np.array_equal(fused.weights[0], DelayNetwork([4, 12, 3], delays="axonal+synaptic",
                                                              weight_init=(0.6, 1.0), seed=5).weights[0])


def test_only_substrates_with_compiled_kernels_and_no_noise_between_layers_take_the_step():
    net = DelayNetwork([4, 10, 3], seed=0)
    x, y = _data(10, seed=0)
    loss = kernel_loss(ShiftInvariantMSE())
    assert ExactSubstrate().step(net, x, y, loss, np.inf) is not None
    for substrate in (ExactSubstrate(compiled=False), ExactSubstrate(noise=Noise(delay_jitter=1e-5), seed=0),
                      ExactSubstrate(noise=Noise(spike_jitter=1e-5), seed=0)):
        assert substrate.step(net, x, y, loss, np.inf) is None
