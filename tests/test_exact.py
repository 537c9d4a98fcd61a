"""The exact forward pass against a brute-force evaluation of the membrane on a fine grid."""
import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel
from brian2_delgrad.exact.kernel import derive_kernel
from brian2_delgrad.exact.forward import layer_spike_times
from conftest import TAU_S, reference_psp, yin_yang_like_inputs


def brute_force_layer(pre, weights, delays, ratio, theta, grid):
    """First grid time where sum_i w_i K(t - t_i - d_ij) >= theta (inf if never), and the peak margin."""
    arrivals = pre[:, :, None] + delays[None]                        # (batch, pre, post)
    times = np.full((pre.shape[0], weights.shape[1]), np.inf)
    margin = np.zeros_like(times)
    for b in range(pre.shape[0]):
        for j in range(weights.shape[1]):
            finite = np.isfinite(arrivals[b, :, j])
            v = (weights[finite, j][:, None]
                 * reference_psp(grid[None] - arrivals[b, finite, j][:, None], ratio)).sum(axis=0)
            above = np.nonzero(v >= theta)[0]
            times[b, j] = grid[above[0]] if above.size else np.inf
            margin[b, j] = abs(v.max() - theta) if v.size else np.inf
    return times, margin


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.5])
def test_layer_matches_brute_force(ratio):
    rng = np.random.default_rng(4)
    pre = rng.uniform(0, 2, size=(40, 6))
    pre[rng.random(pre.shape) < 0.15] = np.inf                       # silent presynaptic neurons
    weights = rng.normal(0.5, 0.8, size=(6, 8))                       # excitatory and inhibitory
    delays = rng.uniform(0, 1.5, size=(6, 8))                         # reorders the arrivals
    model = LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms)
    exact = layer_spike_times(derive_kernel(model), pre, weights, delays)
    step = 1e-4
    grid = np.arange(0, 20, step)
    brute, margin = brute_force_layer(pre, weights, delays, ratio, model.theta, grid)
    clear = margin > 1e-3                                              # not grazing threshold
    assert np.array_equal(np.isfinite(exact)[clear], np.isfinite(brute)[clear])
    both = np.isfinite(exact) & np.isfinite(brute)
    assert both.sum() > 100
    assert np.all(brute[both] - exact[both] >= -1e-9)                 # the grid never crosses before T
    assert np.all(brute[both] - exact[both] <= step + 1e-9)


def test_silent_inputs_contribute_nothing():
    model = LIFModel()
    rng = np.random.default_rng(5)
    pre = rng.uniform(0, 2, size=(30, 4))
    weights = rng.normal(1, 1, size=(4, 5))
    delays = rng.uniform(0, 1, size=(4, 5))
    reference = layer_spike_times(derive_kernel(model), pre, weights, delays)
    silent = np.concatenate([pre, np.full((30, 2), np.inf)], axis=1)
    extra_weights = np.concatenate([weights, rng.normal(5, 1, size=(2, 5))])
    extra_delays = np.concatenate([delays, np.zeros((2, 5))])
    assert np.array_equal(layer_spike_times(derive_kernel(model), silent, extra_weights, extra_delays), reference)


def test_all_silent_inputs_give_no_spike():
    out = layer_spike_times(derive_kernel(LIFModel()), np.full((3, 4), np.inf), np.ones((4, 2)) * 10,
                            np.zeros((4, 2)))
    assert np.all(np.isposinf(out))


def test_run_returns_every_layer_in_seconds():
    net = DelayNetwork([4, 7, 5, 3], delays="axonal+dendritic", seed=2)
    x = yin_yang_like_inputs(20)
    times = ExactSubstrate().run(net, x)
    assert [t.shape for t in times] == [(20, 4), (20, 7), (20, 5), (20, 3)]
    assert all(t.dtype == np.float64 for t in times)
    np.testing.assert_array_equal(times[0], x)
    finite = np.concatenate([t[np.isfinite(t)] for t in times[1:]])
    assert finite.size > 0 and np.all((finite > 0) & (finite < 20 * TAU_S))
    # Every layer spikes after its earliest input has arrived.
    for layer in range(3):
        earliest = (times[layer][:, :, None] + net.total_delays(layer)[None]).min(axis=1)
        spiking = np.isfinite(times[layer + 1])
        assert np.all(times[layer + 1][spiking] > earliest[spiking])


def test_run_accepts_brian2_quantities():
    net = DelayNetwork([4, 6, 3], seed=0)
    x = yin_yang_like_inputs(5)
    a = ExactSubstrate().run(net, x * 1000 * ms)
    b = ExactSubstrate().run(net, x)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-15)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((5, 3)), r"shape \(any, 4\)"),
    (np.zeros(4), r"shape \(any, 4\)"),
    (np.full((2, 4), np.nan), "NaN"),
    (np.full((2, 4), -np.inf), "infinite"),
    ([[1e-3, "a", 0, 0]], "array of times"),
])
def test_bad_input_times_are_rejected(bad, match):
    net = DelayNetwork([4, 6, 3], seed=0)
    with pytest.raises(ValueError, match="input_times"):
        ExactSubstrate().run(net, bad)
    with pytest.raises(ValueError, match=match):
        ExactSubstrate().run(net, bad)


def test_input_times_in_volts_are_rejected():
    from brian2 import mV
    with pytest.raises(ValueError, match="input_times"):
        ExactSubstrate().run(DelayNetwork([4, 6, 3]), np.ones((2, 4)) * mV)


def test_delays_reorder_inputs():
    """A long delay on the first input makes the second one cause the spike."""
    model = LIFModel()
    pre = np.array([[0.0, 0.5]])
    weights = np.array([[4.0], [4.0]])
    early = layer_spike_times(derive_kernel(model), pre, weights, np.array([[0.0], [0.0]]))
    late = layer_spike_times(derive_kernel(model), pre, weights, np.array([[3.0], [0.0]]))
    single = layer_spike_times(derive_kernel(model), pre[:, 1:], weights[1:], np.array([[0.0]]))
    assert early[0, 0] < 0.5          # the first input alone crosses threshold
    assert late[0, 0] == pytest.approx(single[0, 0], rel=1e-14)
