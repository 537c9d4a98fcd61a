"""to_brian2: the trained network as plain Brian2 objects that run to the exact substrate's spikes."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import ms, us

from brian2_delgrad import Brian2Substrate, DelayNetwork, ExactSubstrate, simulation_time, to_brian2
from brian2_delgrad.core.network import random_connectivity
from conftest import yin_yang_like_inputs

pytestmark = pytest.mark.brian2


def recorded(network, net, copies):
    """Spike times of every simulated layer from the network's monitors, (copies, n) each."""
    result = []
    for k, n in enumerate(net.sizes[1:], start=1):
        monitor = network[f"spikes_{k}"]
        times = np.full(copies * n, np.inf)
        times[np.asarray(monitor.i)] = np.asarray(monitor.t_spike_)
        result.append(times.reshape(copies, n))
    return result


@pytest.fixture
def numpy_target():
    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    yield
    b2.prefs.codegen.target = previous


@pytest.mark.parametrize("delays", ["synaptic", "axonal+dendritic", ["axonal", "dendritic+synaptic", "none"]])
def test_the_exported_network_runs_to_the_exact_spike_times(numpy_target, delays):
    masks = random_connectivity((4, 12, 6, 3), [0.6, 0.7, 1.0], 2)
    net = DelayNetwork([4, 12, 6, 3], delays=delays, weight_init=(1.5, 1.0), seed=2, connectivity=masks)
    inputs = yin_yang_like_inputs(6, seed=2)
    network = to_brian2(net, inputs * b2.second, dt=50 * us)           # precise timing: exact for any dt
    assert len(network["synapses_1"]) == 6 * masks[0].sum()                 # only the existing synapses
    state = b2.StateMonitor(network["neurons_1"], "v", record=[0, 1])
    network.add(state)
    network.run(simulation_time(net, inputs))
    exact = ExactSubstrate().run(net, inputs)[1:]
    assert sum(np.isfinite(t).sum() for t in exact) > 30
    for a, b in zip(exact, recorded(network, net, len(inputs))):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=1e-10)
    assert state.v.shape[0] == 2 and np.ptp(state.v[0]) > 0


def test_grid_timing_is_within_two_steps_and_the_objects_are_where_the_docs_say(numpy_target):
    net = DelayNetwork([4, 10, 3], delays="synaptic", weight_init=(1.5, 1.0), seed=4)
    inputs = yin_yang_like_inputs(8, seed=4)
    network = to_brian2(net, inputs, dt=10 * us, timing="grid")
    synapses = network["synapses_1"]
    np.testing.assert_array_equal(synapses.w[:], np.tile(net.weights[0].ravel(), 8))          # sample-major copies
    np.testing.assert_array_equal(synapses.d_syn_[:], np.tile(net.delays[0]["synaptic"].ravel(), 8))
    network.run(simulation_time(net, inputs))
    exact = ExactSubstrate().run(net, inputs)[-1]
    grid = recorded(network, net, len(inputs))[-1]
    finite = np.isfinite(exact) & np.isfinite(grid)
    assert finite.sum() >= 0.9 * np.isfinite(exact).sum() and np.abs(exact - grid)[finite].max() <= 2 * 10e-6
    with pytest.raises(ValueError, match="dt = 0.001 s is too coarse"):
        to_brian2(net, inputs, dt=1 * ms)


def test_the_brian2_substrate_builds_only_existing_synapses(numpy_target):
    net = DelayNetwork([4, 10, 3], delays="axonal+synaptic", weight_init=(1.5, 1.0), seed=5,
                       connectivity=random_connectivity((4, 10, 3), 0.5, 5))
    inputs = yin_yang_like_inputs(10, seed=5)
    substrate = Brian2Substrate(target="numpy")
    simulated = substrate.run(net, inputs)
    (simulation,) = substrate._built.values()
    assert len(simulation.objects.layers[0].synapses) == 10 * net.connectivity[0].sum()
    for a, b in zip(ExactSubstrate().run(net, inputs)[1:], simulated[1:]):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=1e-10)


def test_a_trained_network_exported_decides_and_spikes_like_the_exact_substrate(numpy_target):
    """tests/data/yinyang_h30_ws_trained.npz: 4-30-3 + synaptic delays trained by `brian2-delgrad study
    studies/noise.toml` (seed 0, noise-free, 300 epochs, best validation epoch); the Yin-Yang test set."""
    from pathlib import Path

    from brian2_delgrad.datasets import encode_times, yin_yang_split
    from brian2_delgrad.training.losses import predict_labels

    net = DelayNetwork.load(Path(__file__).parent / "data" / "yinyang_h30_ws_trained.npz")
    features, labels = yin_yang_split("test")
    inputs = encode_times(features, net.model.tau_s)
    exact = ExactSubstrate().run(net, inputs)
    decisions = predict_labels(exact[-1])
    assert np.mean(decisions == labels) > 0.97                      # a trained network
    for timing in ("grid", "precise"):
        network = to_brian2(net, inputs, dt=10 * us, timing=timing)
        network.run(simulation_time(net, inputs))
        simulated = recorded(network, net, len(inputs))
        assert np.mean(predict_labels(simulated[-1]) == decisions) >= 0.995
        if timing == "precise":                                     # spike times to rounding
            for a, b in zip(exact[1:], simulated):
                np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
                np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=1e-12)
