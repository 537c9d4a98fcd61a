"""The numba-compiled layer kernels against the vectorised NumPy reference passes."""
import math

import numpy as np
import pytest
from brian2 import ms
from scipy.special import lambertw

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel, backward
from brian2_delgrad.exact.compiled import compiled_layer
from brian2_delgrad.exact.kernel_cache import kernel_module
from conftest import yin_yang_like_inputs


def test_lambert_w_matches_scipy():
    lambert_w0 = kernel_module(LIFModel()).lambert_w0     # as compiled into the kernels
    x = np.concatenate([np.linspace(-0.36, 5, 200), np.logspace(1, 8, 20)])
    ours = np.array([lambert_w0(v) for v in x])
    np.testing.assert_allclose(ours, lambertw(x).real, rtol=1e-14, atol=1e-15)
    # Near the branch point W is ill-conditioned (dW/dx -> inf): check the defining equation instead.
    near = -1 / math.e + np.logspace(-14, -1, 30)
    w = np.array([lambert_w0(v) for v in near])
    np.testing.assert_allclose(w * np.exp(w), near, rtol=1e-14)
    assert np.all(w >= -1) and math.isnan(lambert_w0(-0.5))


@pytest.mark.parametrize("closed_form", [True, False])
def test_compiled_forward_matches_numpy(model, closed_form):
    net = DelayNetwork([4, 30, 10, 3], delays="axonal+synaptic", model=model, weight_init=(0.6, 1.0), seed=1)
    x = yin_yang_like_inputs(300, seed=1)
    x[np.random.default_rng(1).random(x.shape) < 0.1] = np.inf
    fast = ExactSubstrate(closed_form=closed_form).run(net, x)
    reference = ExactSubstrate(closed_form=closed_form, compiled=False).run(net, x)
    assert compiled_layer(model, closed_form) is not None
    spiking = np.concatenate([np.isfinite(t).ravel() for t in fast[1:]])
    assert 0.3 < spiking.mean() < 0.95
    for a, b in zip(fast[1:], reference[1:]):
        assert np.array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-13)


def test_inputs_spread_over_hundreds_of_tau_s_take_the_direct_statistics(model):
    """Where a sample's exponents could reach exp(300) the forward pass computes each arrival's statistics from
    its time, not from products of exponentials: the same spike times as the NumPy pass, with or without."""
    net = DelayNetwork([4, 30, 3], delays="synaptic", model=model, weight_init=(1.0, 1.0), seed=5)
    x = yin_yang_like_inputs(60, seed=5)
    x[::2, 0] += 1000 * model.tau_s_                  # every other sample: one input 1000 tau_s later
    x[1::4, 1] = np.inf
    fast = ExactSubstrate().run(net, x)
    reference = ExactSubstrate(compiled=False).run(net, x)
    for a, b in zip(fast[1:], reference[1:]):
        assert np.array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-13)
    assert np.isfinite(fast[1][::2]).mean() > 0.2 and np.isfinite(fast[2][::2]).mean() > 0.2   # spread samples spike


def test_forward_through_every_layer_in_one_call_equals_layer_by_layer(model):
    """One call takes each sample through all layers (one parallel region): the same numbers, bit for bit."""
    net = DelayNetwork([4, 30, 10, 3], delays="axonal+synaptic", model=model, weight_init=(0.6, 1.0), seed=3)
    tau, compiled = model.tau_s_, compiled_layer(model)
    x = yin_yang_like_inputs(100, seed=3) / tau
    rng = np.random.default_rng(3)
    x[rng.random(x.shape) < 0.2] = np.inf
    thresholds = [1.0 + 0.05 * rng.normal(size=(100, n)) for n in net.sizes[1:]]
    delays = [net.total_delays(k) / tau for k in range(3)]
    for threads in (1, 2):
        together = compiled.forward(x, net.weights, delays, thresholds, tau, threads=threads)
        pre = x
        for k in range(3):
            alone = compiled.forward(pre, [net.weights[k]], [delays[k]], [thresholds[k]], tau, threads=threads)[0]
            assert np.array_equal(together[k], alone)
            pre = alone / tau
        spiking = np.concatenate([np.isfinite(t).ravel() for t in together])
        assert 0.3 < spiking.mean() < 1


@pytest.mark.parametrize("delays", ["synaptic", "dendritic"])
def test_a_narrow_layer_walks_all_its_neurons_together_with_the_numbers_of_one_by_one(model, delays):
    """At most NARROW inputs with an order per neuron: all neurons of a sample walk their arrivals together. The
    same layer with silent inputs added beyond NARROW (no arrival, no weight) goes neuron by neuron: the same
    spike times bit for bit, with the closed-form crossings and with root finding, for samples whose exponents
    leave the window (direct statistics), ties and samples without any input spike. (With delay jitter every
    layer goes neuron by neuron: a jitter of inf would silence one neuron's arrival.)"""
    from brian2_delgrad.exact.forward_kernel import NARROW

    n_pre, batch, tau = 6, 120, model.tau_s_
    net = DelayNetwork([n_pre, 40], delays=delays, model=model, weight_init=(1.0, 0.8), seed=7)
    rng = np.random.default_rng(7)
    x = yin_yang_like_inputs(batch, n_in=n_pre, seed=7) / tau
    x[rng.random(x.shape) < 0.15] = np.inf
    x[::7, 0] = 400.0                                           # beyond the window of products of exponentials
    x[5] = np.inf                                               # a sample without input spikes
    x[9, :3] = x[9, 3]                                          # ties between inputs
    thresholds = [1.0 + 0.05 * rng.normal(size=(batch, 40))]
    weights, delays_tau = net.weights[0], net.total_delays(0) / tau
    pad = NARROW + 1 - n_pre
    padded = dict(pre_times=np.hstack([x, np.full((batch, pad), np.inf)]),
                  weights=[np.vstack([weights, np.zeros((pad, 40))])],
                  delays=[np.vstack([delays_tau, np.zeros((pad, 40))])])
    for closed_form in (True, False):
        compiled = compiled_layer(model, closed_form)
        together = compiled.forward(x, [weights], [delays_tau], thresholds, tau, threads=1)[0]
        one_by_one = compiled.forward(padded["pre_times"], padded["weights"], padded["delays"], thresholds, tau,
                                      threads=1)[0]
        assert np.array_equal(together, one_by_one)
        assert 0.3 < np.isfinite(together).mean() < 0.95 and np.isinf(together[5]).all()


def test_compiled_passes_take_any_array_and_refuse_layers_that_do_not_chain():
    model = DelayNetwork([4, 3], seed=0).model
    compiled, tau = compiled_layer(model), model.tau_s_
    net = DelayNetwork([4, 6, 2], delays="synaptic", seed=4, weight_init=(0.8, 0.5))
    x = (yin_yang_like_inputs(20, seed=4) / tau).astype(np.float32)
    delays = [net.total_delays(k) / tau for k in range(2)]
    thresholds = [np.ones((20, 6)), np.ones((20, 2))]
    reference = compiled.forward(x.astype(np.float64), net.weights, delays, thresholds, tau)
    frozen = [w.copy() for w in net.weights]
    frozen[1].setflags(write=False)                 # one read-only, one float32 array: the same numbers
    odd = compiled.forward(x, frozen, delays,
                           [thresholds[0].astype(np.float32), thresholds[1]], tau)
    assert all(np.array_equal(a, b) for a, b in zip(reference, odd))
    times = [x.astype(np.float64)] + [t / tau for t in reference]
    delta = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    connected = [np.ones(w.shape, dtype=int) for w in net.weights]
    grads = compiled.backward(times, frozen, delays, delta, np.inf, connected)
    assert all(np.array_equal(a, b) for a, b in zip(grads[0], compiled.backward(
        times, net.weights, delays, delta, np.inf, [c.astype(bool) for c in connected])[0]))
    with pytest.raises(ValueError, match="forward: thresholds must have one item per layer"):
        compiled.forward(x, net.weights, delays, thresholds[:1], tau)
    with pytest.raises(ValueError, match="forward: weights must be .* that chain from 4 inputs"):
        compiled.forward(x, [net.weights[0], net.weights[0]], delays, thresholds, tau)
    with pytest.raises(ValueError, match="backward: delays must have the weights' shapes"):
        compiled.backward(times, net.weights, [delays[0], delays[0]], delta, np.inf, connected)


@pytest.mark.parametrize("max_weight_gradient", [None, 2e-3])
def test_compiled_backward_matches_numpy(model, max_weight_gradient):
    net = DelayNetwork([4, 30, 10, 3], delays="axonal+dendritic+synaptic", model=model, weight_init=(0.6, 1.0),
                       seed=2)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(200, seed=2))
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(2).normal(size=times[-1].shape), 0.0)
    fast = backward(net, times, error, max_weight_gradient=max_weight_gradient)
    reference = backward(net, times, error, max_weight_gradient=max_weight_gradient, compiled=False)
    assert fast.guarded == reference.guarded
    if max_weight_gradient is not None:
        assert fast.guarded > 0
    # A PSP is a difference of exponentials that cancels near lag 0, and the passes compute them differently (one
    # exponential and its powers, against each on its own); which entries nearly cancel depends on the spike
    # times, which the forward pass's shared exponentials move by ulps: such entries agree to 1e-13 of the largest.
    for a, b in zip(fast.weights, reference.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13 * np.abs(b).max())
    for a, b in zip(fast.delays, reference.delays):
        for placement in b:
            np.testing.assert_allclose(a[placement], b[placement], rtol=1e-12, atol=1e-13 * np.abs(b[placement]).max())
    np.testing.assert_allclose(fast.input_times, reference.input_times, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ratio, delays", [(1.0, "axonal"), (2.0, "none"), (2.0, "axonal")])
def test_a_wide_layer_sharing_its_arrivals_takes_each_inputs_statistics_once(ratio, delays):
    """At >= WIDE inputs whose delays do not depend on the neuron, PSPs come from per-input statistics (no
    exponential per synapse): the NumPy pass's gradients to rounding, also for samples spread beyond the window
    (every other one here), which take the direct PSPs; the same sums on one thread and two. Two kernels: their
    statistics differ in form (``t exp(t)`` at ratio 1); each wide kernel compiles for a minute."""
    from brian2_delgrad.exact.backward_kernel import WIDE, WINDOW

    model = LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms)
    n = WIDE + 20
    net = DelayNetwork([n, 40, 3], delays=delays, model=model, weight_init=[(4.0 / n, 2.0 / n), (0.3, 0.3)], seed=4)
    x = np.random.default_rng(4).uniform(0.15, 2.0, size=(40, n)) * model.tau_s_
    x[::2, 0] -= (WINDOW + 1) * model.tau_s_ - x[::2, 0].min()      # an early outlier: beyond the window
    x[1::3, 5:20] = np.inf
    times = ExactSubstrate().run(net, x)
    assert 0.3 < np.isfinite(times[1]).mean() and np.isfinite(times[2]).mean() > 0.3
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(4).normal(size=times[-1].shape), 0.0)
    fast, reference = backward(net, times, error, threads=1), backward(net, times, error, compiled=False)
    if ratio == 2.0:                                           # (the several-thread kernels compile for a minute)
        on_two = backward(net, times, error, threads=2)         # chunks of neurons across threads: the same sums
        assert all(np.array_equal(a, b) for a, b in zip(_arrays(fast), _arrays(on_two)))
    for a, b in zip(_arrays(fast)[:-1], _arrays(reference)[:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.abs(b).max())
    np.testing.assert_allclose(fast.input_times, reference.input_times, rtol=1e-11, atol=1e-11)


def _arrays(gradients):
    """Every array of a Gradients: weights, delays, input times (last)."""
    return gradients.weights + [d for layer in gradients.delays for d in layer.values()] + [gradients.input_times]


def test_guard_drops_spikes_without_a_rising_membrane_in_both_passes():
    """A recorded spike before any input arrived (V'(T) = 0) is guarded, and no NaN reaches the gradients."""
    net = DelayNetwork([4, 8, 3], delays="synaptic", weight_init=(1.5, 0.5), seed=3)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(20, seed=3))
    times[1][0, 0] = 0.0                                   # impossible for an exact substrate, possible when recorded
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    fast = backward(net, times, error, max_weight_gradient=1e3)
    reference = backward(net, times, error, max_weight_gradient=1e3, compiled=False)
    assert fast.guarded == reference.guarded >= 1
    for grads in (fast, reference):
        assert all(np.all(np.isfinite(w)) for w in grads.weights)
        assert all(np.all(np.isfinite(d)) for layer in grads.delays for d in layer.values())
    for a, b in zip(fast.weights, reference.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
