"""Exact gradients against finite differences, the sum rule, and input checks."""
import numpy as np
import pytest
from brian2 import ms, second

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel, backward
from brian2_delgrad.exact.gradcheck import CHECKED_PLACEMENTS, gradcheck
from brian2_delgrad.exact.gradients import membrane_slopes, spike_time_derivatives
from conftest import yin_yang_like_inputs


@pytest.mark.parametrize("hidden", [(6,), (5, 4)], ids=["one-hidden", "two-hidden"])
@pytest.mark.parametrize("placement", CHECKED_PLACEMENTS)
def test_backward_matches_finite_differences(model, placement, hidden):
    seed = CHECKED_PLACEMENTS.index(placement) + 10 * len(hidden)
    net = DelayNetwork([4, *hidden, 3], delays=placement, model=model, weight_init=(1.5, 1.0), seed=seed)
    table = gradcheck(net, yin_yang_like_inputs(8, seed=seed), seed=seed)
    compared, excluded = table.compared.sum(), table.excluded.sum()
    assert table.nonzero.sum() >= 50                        # the comparison has substance
    assert excluded <= 0.05 * (compared + excluded)        # few samples near events or grazing
    assert table.below_floor.sum() <= 0.01 * compared
    assert table.max_rel_diff.max() <= 1e-6, table.to_string()


@pytest.mark.parametrize("placement", ["none", "synaptic"])
def test_backward_matches_finite_differences_at_fan_in_784(placement):
    """A wide layer (784 inputs, half of them silent, as Fashion-MNIST's black pixels): chunks of neurons and, where
    the neurons share the arrivals, PSPs from per-input statistics; a random draw of each tensor's entries."""
    net = DelayNetwork([784, 20, 3], delays=placement, weight_init=[(8 / 784, 3 / 784), (0.6, 0.3)], seed=3)
    rng = np.random.default_rng(3)
    inputs = rng.uniform(0.15, 2.0, size=(6, 784)) * 5e-3
    inputs[rng.random(inputs.shape) < 0.5] = np.inf
    table = gradcheck(net, inputs, seed=3, max_entries=40)
    compared, excluded = table.compared.sum(), table.excluded.sum()
    assert (table.entries <= 40).all() and table.nonzero.sum() >= 100
    assert excluded <= 0.05 * (compared + excluded)
    assert table.max_rel_diff.max() <= 1e-6, table.to_string()


def test_finite_differences_catch_a_wrong_gradient(monkeypatch):
    """The check is not vacuous: a gradient off by 1e-5 relative is reported."""
    import brian2_delgrad.exact.gradcheck as gc

    real = gc.backward

    def slightly_wrong(*args):
        grads = real(*args)
        grads.weights[0] *= 1 + 1e-5
        return grads

    monkeypatch.setattr(gc, "backward", slightly_wrong)
    net = DelayNetwork([4, 5, 3], delays="synaptic", seed=1)
    table = gc.gradcheck(net, yin_yang_like_inputs(4, seed=1))
    assert table.set_index("parameter").max_rel_diff["weights[0]"] > 5e-6
    assert table.set_index("parameter").max_rel_diff["weights[1]"] < 1e-6


def test_sum_rule_holds_for_every_spiking_neuron(model):
    net = DelayNetwork([4, 30, 10, 3], delays="synaptic", model=model, seed=3)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(200, seed=3))
    checked = 0
    for layer in range(3):
        spiking = np.isfinite(times[layer + 1])
        total = spike_time_derivatives(net, times, layer)[1].sum(axis=1)
        np.testing.assert_allclose(total[spiking], 1.0, rtol=0, atol=1e-10)
        assert np.all(total[~spiking] == 0)
        checked += spiking.sum()
    assert checked > 1000


def test_dendritic_delay_gradient_is_the_output_error():
    net = DelayNetwork([4, 10, 3], delays="dendritic", seed=4)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(50, seed=4))
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(0).normal(size=(50, 3)), 0.0)
    grads = backward(net, times, error)
    np.testing.assert_allclose(grads.delays[-1]["dendritic"], error.sum(axis=0), rtol=1e-12)


def test_time_shift_invariance_of_the_whole_network():
    """Shifting every input by dt shifts every spike by dt: sum of input gradients = sum of output errors."""
    net = DelayNetwork([4, 12, 3], delays="axonal+synaptic", seed=5)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(30, seed=5))
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    grads = backward(net, times, error)
    np.testing.assert_allclose(grads.input_times.sum(axis=1), error.sum(axis=1), rtol=1e-10)


def test_gradients_have_the_parameter_structure():
    net = DelayNetwork([4, 8, 3], delays=["axonal", "dendritic+synaptic"], seed=6)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(10))
    grads = backward(net, times, np.where(np.isfinite(times[-1]), 1.0, 0.0))
    assert [g.shape for g in grads.weights] == [(4, 8), (8, 3)]
    assert grads.delays[0].keys() == {"axonal"} and grads.delays[0]["axonal"].shape == (4,)
    assert grads.delays[1].keys() == {"dendritic", "synaptic"}
    assert grads.delays[1]["dendritic"].shape == (3,) and grads.delays[1]["synaptic"].shape == (8, 3)
    assert grads.input_times.shape == (10, 4)


def test_grazing_crossings_have_small_slopes():
    """membrane_slopes tells grazing spikes apart; a threshold just below the peak gives a small slope."""
    net = DelayNetwork([1, 1], delays="none", model=LIFModel(theta=1.0), seed=0)
    peak = 2 * (0.5 - 0.25)        # PSP peak for tau_m = 2 tau_s, at s = 2 ln 2
    for theta, expected in [(0.5 * peak, False), (0.99999 * peak, True)]:
        net.model = LIFModel(theta=theta)
        net.set_parameters(weights=[np.array([[1.0]])])
        times = ExactSubstrate().run(net, np.zeros((1, 1)))
        slope = membrane_slopes(net, times)[0][0, 0] / theta
        assert (slope < 1e-2) == expected


@pytest.mark.parametrize("call, match", [
    (lambda net, t, e: backward(net, t[:2], e), "spike_times"),
    (lambda net, t, e: backward(net, [t[0], t[1][:, :5], t[2]], e), r"spike_times\[1\]"),
    (lambda net, t, e: backward(net, t, e[:, :2]), "dL_dT_out"),
    (lambda net, t, e: backward(net, t, e[:3]), "dL_dT_out"),
    (lambda net, t, e: backward(net, t, np.full_like(e, np.nan)), "dL_dT_out"),
    (lambda net, t, e: backward(net, [t[0], t[1], np.full_like(t[2], np.inf)], np.ones_like(e)), "dL_dT_out"),
    (lambda net, t, e: backward(net, t, e * ms), "dL_dT_out must be in 1/second"),
    (lambda net, t, e: backward(net, t, e, max_weight_gradient=np.nan), "max_weight_gradient"),
    (lambda net, t, e: backward(net, t, e, max_weight_gradient=0), "max_weight_gradient"),
    (lambda net, t, e: backward(net, t, e, max_weight_gradient="0.2"), "max_weight_gradient"),
    (lambda net, t, e: backward(None, t, e), "net must be a DelayNetwork"),
])
def test_bad_backward_input_is_rejected(call, match):
    net = DelayNetwork([4, 8, 3], seed=0)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(6))
    with pytest.raises(ValueError, match=match):
        call(net, times, np.where(np.isfinite(times[-1]), 1.0, 0.0))


def test_backward_accepts_brian2_quantities():
    net = DelayNetwork([4, 8, 3], seed=0)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(6))
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    a = backward(net, [t * 1000 * ms for t in times], error / second)
    b = backward(net, times, error)
    np.testing.assert_allclose(a.weights[0], b.weights[0], rtol=1e-12)


@pytest.mark.parametrize("placement", ["axonal", "synaptic", "axonal+dendritic"])
def test_tied_delays_match_finite_differences(model, placement):
    """Inputs replicated 3 times share their delays: the gradient of a shared delay is exact."""
    net = DelayNetwork([12, 6, 3], delays=placement, model=model, weight_init=(0.5, 0.6),
                       delay_groups=[3, [0, 0, 1, 1, 2, 2]], seed=21)
    inputs = np.repeat(yin_yang_like_inputs(8, seed=21), 3, axis=1)
    table = gradcheck(net, inputs, seed=21)
    compared, excluded = table.compared.sum(), table.excluded.sum()
    assert table.nonzero.sum() >= 30 and excluded <= 0.05 * (compared + excluded)
    assert table.max_rel_diff.max() <= 1e-6, table.to_string()


def test_a_tied_delay_gets_the_sum_over_its_synapses_and_the_sum_rule_holds():
    """Tied: the gradient of a group's delay is the sum of the untied gradients of its neurons' delays; and
    shifting every tied axonal delay of the inputs shifts each output spike by as much (sum rule)."""
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    tied = DelayNetwork([8, 5], delays="axonal+synaptic", weight_init=(0.6, 0.5), delay_groups=[groups], seed=8)
    untied = DelayNetwork([8, 5], delays="axonal+synaptic", weight_init=(0.6, 0.5), seed=8)
    untied.set_parameters(weights=tied.weights, delays=[tied.neuron_delays(0)])
    inputs = yin_yang_like_inputs(40, n_in=8, seed=8)
    times = ExactSubstrate().run(tied, inputs)
    np.testing.assert_array_equal(times[-1], ExactSubstrate().run(untied, inputs)[-1])
    assert np.isfinite(times[-1]).sum() > 50
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(1).normal(size=times[-1].shape), 0.0)
    a, b = backward(tied, times, error), backward(untied, times, error)
    for p in ("axonal", "synaptic"):
        summed = np.zeros(a.delays[0][p].shape)
        np.add.at(summed, groups, b.delays[0][p])
        np.testing.assert_allclose(a.delays[0][p], summed, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    for sample in range(10):                         # per sample and output neuron: sum over groups = 1
        for neuron in np.flatnonzero(np.isfinite(times[-1][sample])):
            one = np.zeros((1, 5))
            one[0, neuron] = 1.0
            g = backward(tied, [t[sample:sample + 1] for t in times], one)
            assert g.delays[0]["axonal"].sum() == pytest.approx(1.0, abs=1e-10)
