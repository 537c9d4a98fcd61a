"""The compiled training epoch (every batch's step, the missing-spike rule and Adam in one call) against the Trainer's
batches one by one with the NumPy optimiser."""
import math
import warnings

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, ShiftInvariantMSE, TTFSCrossEntropy, Trainer
from brian2_delgrad.core.network import random_connectivity
from brian2_delgrad.exact.backward_kernel import WIDE
from brian2_delgrad.exact.epoch_kernel import numpy_sum
from brian2_delgrad.substrates.noise import Noise
from brian2_delgrad.training import optim
from conftest import yin_yang_like_inputs


class BatchByBatch(ExactSubstrate):
    """The exact substrate without its compiled epoch: the Trainer takes the batches one by one."""

    def epoch(self, *args):
        return None


class Counted(ExactSubstrate):
    """The exact substrate, counting the epochs it took in one call."""

    epochs = 0

    def epoch(self, *args):
        result = super().epoch(*args)
        Counted.epochs += result is not None
        return result


#: Whether NumPy's exp is the C library's, as the compiled epoch's is (on machines with AVX-512 NumPy has its own,
#: which may differ in the last bit: the sigmoid bounds' numbers then agree to rounding, not bit for bit).
SAME_EXP = all(np.exp(v) == math.exp(v) for v in np.random.default_rng(0).normal(0.0, 5.0, 10_000))


def _data(n, n_in, seed, n_out=3):
    rng = np.random.default_rng(seed)
    x = yin_yang_like_inputs(n, seed=seed) if n_in == 4 else rng.uniform(0.15, 2.0, size=(n, n_in)) * 5e-3
    x[rng.random(x.shape) < (0.1 if n_in == 4 else 0.3)] = np.inf
    return x, np.arange(n) % n_out


def _trained(substrate, sizes, delays, groups, sparse, loss, bounds, weight_init, epochs=2):
    """The network, history and optimiser state after ``epochs``, and the warnings of the stalled missing-spike
    rule."""
    net = DelayNetwork(sizes, delays=delays, weight_init=weight_init, seed=2, delay_groups=groups,
                       connectivity=random_connectivity(sizes, 0.7, 2) if sparse else None)
    x, y = _data(70, sizes[0], seed=2, n_out=sizes[-1])
    trainer = Trainer(net, substrate=substrate, loss=loss, batch_size=30, delay_bounds=bounds, max_weight_gradient=0.2,
                      hidden_silence=0.2, progress=False, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        history = trainer.fit(x, y, validation=_data(20, sizes[0], seed=3, n_out=sizes[-1]), epochs=epochs)
    stalled = [str(w.message)[:80] for w in caught if "missing-spike rule" in str(w.message)]
    return net, history, trainer._optimiser.state(), stalled


def _assert_equal(a, b):
    """Bit for bit, or to rounding where NumPy's exp is not the C library's."""
    if SAME_EXP:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sizes, delays, groups, sparse, loss, bounds, weight_init, threads", [
    ([4, 12, 3], "synaptic", None, False, "mse", "sigmoid", (1.5, 1.0), 1),
    ([4, 12, 3], "axonal+dendritic+synaptic", None, True, "ce", "clip", (1.5, 1.0), 2),
    ([4, 10, 6, 3], "axonal+synaptic", [2, None, None], False, "mse", "sigmoid", (1.5, 1.0), 2),
    ([4, 10, 6, 3], ["dendritic", "none", "axonal"], None, True, "mse", "sigmoid", (1.5, 1.0), 1),
    ([4, 12, 3], "axonal", None, False, "mse", "sigmoid", (0.05, 0.05), 1),    # silent: the missing-spike rule
    ([4, 20, 1], "axonal+dendritic", None, False, "mse", "sigmoid", (1.5, 1.0), 2),  # one neuron: NumPy's sum
    ([WIDE + 10, 30, 3], "axonal+synaptic", None, True, "mse", "sigmoid",
     [(6.0 / (WIDE + 10), 2.0 / (WIDE + 10)), (0.6, 0.3)], 2),                   # wide: layer by layer
])
def test_the_compiled_epoch_trains_as_the_batches_one_by_one(sizes, delays, groups, sparse, loss, bounds,
                                                             weight_init, threads):
    """Weights, delays, Adam's moments and steps, the bump and the history, bit for bit, after two epochs (every
    placement, tied delays, sparse layers, both built-in losses, both delay bounds, the missing-spike rule, one
    and two threads, narrow and wide networks)."""
    loss = ShiftInvariantMSE() if loss == "mse" else TTFSCrossEntropy()
    Counted.epochs = 0
    ours = _trained(Counted(threads=threads), sizes, delays, groups, sparse, loss, bounds, weight_init)
    theirs = _trained(BatchByBatch(threads=threads), sizes, delays, groups, sparse, loss, bounds, weight_init)
    assert Counted.epochs == 2
    for a, b in zip(ours[0].weights + [d for layer in ours[0].delays for d in layer.values()],
                    theirs[0].weights + [d for layer in theirs[0].delays for d in layer.values()], strict=True):
        _assert_equal(a, b)
    (state, expected) = ours[2], theirs[2]
    assert (state["adam_steps"], state["bump"]) == (expected["adam_steps"], expected["bump"])
    for a, b in zip(state["adam_moments"], expected["adam_moments"], strict=True):
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y)
    columns = [c for c in ours[1].columns if c != "wall_time"]
    if SAME_EXP:
        assert ours[1][columns].equals(theirs[1][columns])
    assert ours[3] == theirs[3]                                  # a stalled rule warns as often
    train = ours[1][ours[1].split == "train"]
    if weight_init == (0.05, 0.05):
        assert train.skipped.sum() > 0                          # the rule bumped: tested too
    else:
        assert state["adam_steps"] > 0 and train.accuracy.iloc[-1] > 0


def test_the_same_epoch_on_one_and_two_threads():
    nets = [_trained(ExactSubstrate(threads=threads), [4, 12, 3], "synaptic", None, False, ShiftInvariantMSE(),
                     "sigmoid", (1.5, 1.0))[0] for threads in (1, 2)]
    for a, b in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nets[0].delays[0]["synaptic"], nets[1].delays[0]["synaptic"])


def test_the_epoch_is_taken_only_where_nothing_is_drawn_per_batch_and_there_is_no_weight_grid(monkeypatch):
    net = DelayNetwork([4, 10, 3], weight_init=(1.5, 1.0), seed=0)
    x, y = _data(40, 4, seed=0)
    pattern = Noise(threshold_pattern=(0.0, 0.02))
    for substrate, trainer_options, taken in [
            (ExactSubstrate(noise=pattern, seed=0), {}, True),          # a fixed pattern: the same every batch
            (ExactSubstrate(noise=Noise(threshold_trial=0.01), seed=0), {}, False),
            (ExactSubstrate(noise=Noise(threshold_batch=0.01), seed=0), {}, False),
            (ExactSubstrate(noise=Noise(delay_jitter=1e-5), seed=0), {}, False),
            (ExactSubstrate(compiled=False), {}, False),
            (ExactSubstrate(), dict(weight_step=0.01), False),
            (ExactSubstrate(), dict(loss=TTFSCrossEntropy()), True)]:
        trainer = Trainer(net.copy(), substrate=substrate, batch_size=15, progress=False, **trainer_options)
        calls = []
        monkeypatch.setattr(optim.NetworkOptimiser, "step", lambda self, *a: calls.append(a) or 0)
        trainer.fit(x, y, epochs=1)
        assert (not calls) == taken, substrate


def test_the_fixed_pattern_epoch_trains_as_the_batches_one_by_one():
    pattern = Noise(threshold_pattern=(0.01, 0.02))
    nets = [_trained(cls(noise=pattern, seed=3), [4, 12, 3], "synaptic", None, False, ShiftInvariantMSE(), "sigmoid",
                     (1.5, 1.0))[0] for cls in (ExactSubstrate, BatchByBatch)]
    np.testing.assert_array_equal(nets[0].weights[1], nets[1].weights[1])
    np.testing.assert_array_equal(nets[0].delays[0]["synaptic"], nets[1].delays[0]["synaptic"])


@pytest.mark.parametrize("count", [1, 5, 7, 8, 9, 16, 23, 128, 129, 150, 300, 784, 1000])
def test_numpy_sum_adds_in_numpys_order(count):
    """NumPy's pairwise summation, bit for bit, on values of very different sizes (any other order differs)."""
    rng = np.random.default_rng(count)
    values = rng.normal(size=3 * count) * 10.0 ** rng.integers(-8, 8, size=3 * count)
    for first, stride in ((0, 1), (1, 3)):
        expected = values[first::stride][:count].sum()
        assert numpy_sum(values, first, count, stride) == expected


def test_a_stalled_missing_spike_rule_warns_as_often_as_batch_by_batch():
    """Silent inputs: every batch is skipped and the bump doubles; at the 20th in a row each path warns once, naming
    the layer (counted in the compiled call, warned after it)."""
    warned = []
    for substrate in (ExactSubstrate(threads=1), BatchByBatch(threads=1)):
        net = DelayNetwork([4, 6, 3], delays="synaptic", seed=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            Trainer(net, substrate=substrate, batch_size=1, progress=False).fit(np.full((45, 4), np.inf),
                                                                                np.arange(45) % 3, epochs=1)
        warned.append([str(w.message) for w in caught])
    assert warned[0] == warned[1] and len(warned[0]) == 1 and "layer 1" in warned[0][0]
