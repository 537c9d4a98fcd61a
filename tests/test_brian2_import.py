"""from_brian2: a user's own Brian2 network in, exactly; what cannot be represented, a clear error."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import ms, us

from brian2_delgrad import DelayNetwork, ExactSubstrate, from_brian2, to_brian2
from brian2_delgrad.exact.gradcheck import CHECKED_PLACEMENTS
from brian2_delgrad.core.network import random_connectivity
from conftest import robust_decisions

pytestmark = pytest.mark.brian2

EQUATIONS = "dv/dt = -v/tau_m + I/tau_s : 1\ndI/dt = -I/tau_s : 1"
tau_m, tau_s = 10 * ms, 5 * ms            # found by from_brian2 in this module, as Brian2's run finds them


@pytest.fixture(autouse=True)
def quiet_numpy_target():
    b2.BrianLogger.suppress_name("unused_brian_object")      # the objects of the error cases are never run
    previous, dt = b2.prefs.codegen.target, b2.defaultclock.dt
    b2.prefs.codegen.target = "numpy"
    yield
    b2.prefs.codegen.target, b2.defaultclock.dt = previous, dt


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("hidden", [(6,), (6, 5)], ids=["one-hidden", "two-hidden"])
@pytest.mark.parametrize("placement", CHECKED_PLACEMENTS)
def test_the_round_trip_is_the_identity(placement, hidden, sparse):
    sizes = [4, *hidden, 3]
    masks = random_connectivity(sizes, 0.4, 3) if sparse else None
    net = DelayNetwork(sizes, delays=placement, seed=3, connectivity=masks)
    back = from_brian2(to_brian2(net, np.full(4, 1e-3)))
    assert back.sizes == net.sizes and back.placements == net.placements and back.model == net.model
    for a, b in zip(back.weights + back.connectivity, net.weights + net.connectivity):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(back.delays, net.delays):
        assert a.keys() == b.keys() and all(np.array_equal(a[p], b[p]) for p in a)


def user_network(rng, sizes=(12, 80, 10)):
    """A network as a Brian2 user writes it: SpikeGeneratorGroup, LIF groups with reset and refractoriness,
    connect(p=0.5), random weights and synaptic delays (on the dt grid), spike monitors."""
    n_in, n_hidden, n_out = sizes
    theta = 1.0
    inputs = b2.SpikeGeneratorGroup(n_in, [0], [0] * ms)
    layers = [b2.NeuronGroup(n, EQUATIONS, threshold="v > theta", reset="v = 0", refractory=1 * b2.second,
                             method="exact", namespace=dict(theta=theta)) for n in (n_hidden, n_out)]
    synapses = []
    for source, target, mean in ((inputs, layers[0], 1.5), (layers[0], layers[1], 0.8)):
        s = b2.Synapses(source, target, "w : 1", on_pre="I_post += w")
        s.connect(p=0.5)
        s.w = rng.normal(mean, 0.8, len(s))
        s.delay = np.round(rng.uniform(0, 5000, len(s))) * us
        synapses.append(s)
    monitors = [b2.SpikeMonitor(group) for group in layers]
    return b2.Network(inputs, *layers, *synapses, *monitors), inputs, monitors


def test_an_independent_brian2_network_agrees_with_the_exact_substrate():
    rng = np.random.default_rng(11)
    b2.defaultclock.dt = 1 * us
    network, inputs, monitors = user_network(rng)
    net = from_brian2(network)
    assert net.placements == [("synaptic",)] * 2 and 0.4 < net.connectivity[0].mean() < 0.6
    samples = np.round(rng.uniform(0.75, 10, size=(3, 12)) * 1000) * 1e-6      # input times on the grid
    exact = ExactSubstrate().run(net, samples)
    robust = robust_decisions(net, samples)
    network.store()
    differences, mismatches = [], 0
    for s, times in enumerate(samples):
        network.restore()
        inputs.set_spikes(np.arange(12), times * b2.second)
        network.run(60 * ms)
        for layer, monitor in enumerate(monitors, start=1):
            simulated = np.full(net.sizes[layer], np.inf)
            for i, t in zip(np.asarray(monitor.i)[::-1], np.asarray(monitor.t_)[::-1]):
                simulated[i] = t                          # the first spike of each neuron
            a = exact[layer][s]
            mismatches += int((np.isfinite(a) != np.isfinite(simulated))[robust[layer][s]].sum())
            both = np.isfinite(a) & np.isfinite(simulated)
            differences.append(np.abs(a[both] - simulated[both]) / 1e-6)
    differences = np.concatenate(differences)
    assert differences.size >= 150 and np.mean(differences <= 2) >= 0.995, np.sort(differences)[-5:]
    assert mismatches == 0


def simple(n_in=3, n_out=2, equations=EQUATIONS, threshold="v > 1", on_pre="I_post += w", model="w : 1"):
    inputs = b2.SpikeGeneratorGroup(n_in, [0], [1] * ms)
    layer = b2.NeuronGroup(n_out, equations, threshold=threshold, name="layer")
    synapses = b2.Synapses(inputs, layer, model, on_pre=on_pre, name="links")
    return inputs, layer, synapses


def test_models_are_compared_symbolically_and_constants_found_like_brian2():
    inputs, layer, synapses = simple(equations="dv/dt = (I*tau_m/tau_s - v)/tau_m : 1\n"
                                               "dI/dt = -I/(5*ms) : 1", threshold="v > 2*theta")
    synapses.connect()
    synapses.w = 1.5
    net = from_brian2([inputs, layer, synapses], namespace=dict(tau_m=20 * ms, tau_s=5 * ms, theta=0.5))
    assert net.model.tau_m == 20 * ms and net.model.tau_s == 5 * ms and net.model.theta == 1.0
    assert net.placements == [()] and np.all(net.weights[0] == 1.5)
    assert from_brian2([inputs, layer, synapses], namespace=dict(tau_m=20 * ms, tau_s=5 * ms,
                                                                              theta=0.5)).n_parameters == 6


def test_per_synapse_delays_can_be_read_as_another_placement():
    inputs, layer, synapses = simple()
    synapses.connect()
    synapses.delay = "(1 + i) * ms"                     # one delay per presynaptic neuron: axonal
    net = from_brian2([inputs, layer, synapses], delays="axonal")
    np.testing.assert_allclose(net.delays[0]["axonal"], [1e-3, 2e-3, 3e-3])
    with pytest.raises(ValueError, match="links: dendritic delays are one per postsynaptic neuron, but the synapses "
                                         "of neuron 0 have different delays"):
        from_brian2([inputs, layer, synapses], delays="dendritic")


BAD = {
    "another neuron model": (dict(equations="dv/dt = -v/tau_m + I/tau_s + 0.1/ms : 1\ndI/dt = -I/tau_s : 1"),
                             "layer: dv/dt = .* is not linear in v and I without a constant term"),
    "a conductance": (dict(equations="dv/dt = -v/tau_m + I*(1 - v)/tau_s : 1\ndI/dt = -I/tau_s : 1"),
                      "layer: dv/dt = .* is not linear"),
    "a third variable": (dict(equations=EQUATIONS + "\ndu/dt = -u/tau_m : 1"),
                         "layer: needs exactly the differential equations of v and I"),
    "another threshold": (dict(threshold="v > 1 or I > 3"), "layer: threshold 'v > 1 or I > 3' is not"),
    "missing w": (dict(model="weight : 1", on_pre="I_post += weight"), "links: has no weight variable w"),
    "another synapse": (dict(on_pre="v_post += w"), "links: on_pre 'v_post \\+= w' is not 'I_post \\+= w'"),
    "time in the equations": (dict(equations="dv/dt = -v/tau_m + I/tau_s + t/second/tau_m : 1\ndI/dt = -I/tau_s : 1"),
                              "layer: t in .* is not a constant"),
    "time in the threshold": (dict(threshold="v > 1 + t/second"), "layer: t in '1 \\+ t/second' is not a constant"),
    "noise": (dict(equations="dv/dt = -v/tau_m + I/tau_s + xi/sqrt(tau_m) : 1\ndI/dt = -I/tau_s : 1"),
              "layer: xi in .* is not a constant"),
    "a threshold with units": (dict(threshold="v > 20*mV"), "layer: .*(dimensionless|units)"),
    "greater or equal": (dict(threshold="v >= 1"), "layer: threshold 'v >= 1' is not the model's 'v > theta'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_what_cannot_be_represented_is_named(case):
    options, message = BAD[case]
    inputs, layer, synapses = simple(**options)
    synapses.connect()
    with pytest.raises(ValueError, match=message):
        from_brian2([inputs, layer, synapses])


def test_recurrent_skipping_and_repeated_synapses_are_named():
    inputs, layer, synapses = simple()
    synapses.connect()
    recurrent = b2.Synapses(layer, layer, "w : 1", on_pre="I_post += w", name="recurrent")
    recurrent.connect(condition="i != j")
    with pytest.raises(ValueError, match="recurrent: recurrent synapses"):
        from_brian2([inputs, layer, synapses, recurrent])
    second = b2.NeuronGroup(2, EQUATIONS, threshold="v > 1", name="second")
    into_second = b2.Synapses(layer, second, "w : 1", on_pre="I_post += w", name="forward")
    skipping = b2.Synapses(inputs, second, "w : 1", on_pre="I_post += w", name="skipping")
    into_second.connect()
    skipping.connect()
    with pytest.raises(ValueError, match="second: receives several Synapses"):
        from_brian2([inputs, layer, second, synapses, into_second, skipping])
    twice = simple()
    twice[2].connect(i=[0, 0, 1], j=[1, 1, 0])
    with pytest.raises(ValueError, match="links: several synapses from 0 to 1"):
        from_brian2(list(twice))
    axonal = simple()
    axonal[2].connect()
    axonal[2].delay = "j * ms"
    with pytest.raises(ValueError, match="links: axonal delays are one per presynaptic neuron, but the synapses of "
                                         "neuron 0 have different delays"):
        from_brian2(list(axonal), delays="axonal")
    with pytest.raises(ValueError, match="stray: a NetworkOperation is not part of a feed-forward network"):
        from_brian2([*simple(), b2.NetworkOperation(lambda: None, name="stray")])


def test_constants_need_their_units_and_summed_variables_are_named():
    inputs, layer, synapses = simple()
    synapses.connect()
    with pytest.raises(ValueError, match="layer: its equations do not check out in Brian2"):
        from_brian2([inputs, layer, synapses], namespace=dict(tau_m=10, tau_s=5 * ms))
    target = b2.NeuronGroup(2, EQUATIONS + "\nIs : 1", threshold="v > 1", name="target")
    summed = b2.Synapses(inputs, target, "w : 1\nIs_post = w : 1 (summed)", on_pre="I_post += w", name="summing")
    summed.connect()
    with pytest.raises(ValueError, match="summing: summed variables"):
        from_brian2([inputs, target, summed])


def test_exact_constants_and_placement_values_of_unconnected_neurons():
    """tau = 58/29 ms comes back as that constant (not its reciprocal's reciprocal); a d_axon of an input neuron
    without synapses (common with connect(p=...)) is read as 0, since it has no effect."""
    odd = 58 / 29 * ms
    inputs = b2.NeuronGroup(3, "d_axon : second", threshold="False", name="sources")
    layer = b2.NeuronGroup(2, "dv/dt = -v/odd + I/odd : 1\ndI/dt = -I/odd : 1", threshold="v > 1", name="layer")
    synapses = b2.Synapses(inputs, layer, "w : 1", on_pre="I_post += w", name="links")
    synapses.connect(i=[0, 1], j=[0, 1])
    inputs.d_axon = [1, 2, 3] * ms
    synapses.delay = [1, 2] * ms
    net = from_brian2([inputs, layer, synapses])
    assert net.model.tau_m_ == float(odd / b2.second) and net.model.tau_s_ == float(odd / b2.second)
    np.testing.assert_array_equal(net.delays[0]["axonal"], [1e-3, 2e-3, 0.0])
