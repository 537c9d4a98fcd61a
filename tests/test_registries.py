"""One contract over every registered entry of every kind, as scikit-learn's check_estimator runs one over every
estimator: whatever is registered when these tests run (the built-in entries, and yours if you register them first)
must keep it. The placements' contract (shapes, share of a synapse's delay, gradient) is tests/test_placements.py,
which runs over every registered placement too."""
import re

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, Noise
from brian2_delgrad.core.delays import PLACEMENTS
from brian2_delgrad.datasets import DATASETS
from brian2_delgrad.datasets.registry import IDX_DATASETS, idx_folder
from brian2_delgrad.substrates import SUBSTRATES, make_substrate
from brian2_delgrad.substrates.profiles import PROFILES
from brian2_delgrad.training.losses import LOSSES
from brian2_delgrad.training.optim import DELAY_BOUNDS

REGISTRIES = {"substrate": SUBSTRATES, "loss": LOSSES, "dataset": DATASETS, "profile": PROFILES,
              "placement": PLACEMENTS, "delay bounds": DELAY_BOUNDS}


@pytest.mark.parametrize("kind", REGISTRIES)
def test_a_registry_refuses_a_taken_name_a_bad_name_and_a_wrong_entry_and_lists_its_names(kind):
    registry = REGISTRIES[kind]
    names = list(registry)
    name, entry = names[0], registry[names[0]]
    with pytest.raises(ValueError, match=re.escape(f"{kind} {name!r} is registered already; pass replace=True")):
        registry.register(name, entry)
    assert registry.register(name, entry, replace=True) is entry and list(registry) == names     # order kept
    with pytest.raises(ValueError, match="identifier"):
        registry.register("not a name", entry)
    with pytest.raises(ValueError, match=re.escape(f"{kind} must be one of {registry.listing()}, got 'no_such'")):
        registry.get_entry("no_such")
    with pytest.raises(ValueError, match=re.escape(repr("odd_one"))):
        registry.register("odd_one", object())               # each kind checks what it is given
    assert list(registry) == names


@pytest.mark.parametrize("name", list(SUBSTRATES))
def test_every_substrate_runs_a_network_to_the_exact_spike_times_deterministically(name, tmp_path):
    """Shapes and dtypes of every layer, a silent sample stays silent, no spike before its sample's first input,
    agreement with the exact substrate to 1 us, the same numbers twice, and the noise it cannot apply refused."""
    entry = SUBSTRATES[name]
    options = {"directory": str(tmp_path / "build")} if "directory" in entry.options else {}
    net = DelayNetwork([3, 4, 2], delays="synaptic", weight_init=(3.0, 0.5), seed=1)
    inputs = np.array([[0.0, 1e-3, np.inf], [2e-3, 0.5e-3, 1e-3], [np.inf] * 3])
    substrate = make_substrate(name, **options)
    times = substrate.run(net, inputs)
    assert [t.shape for t in times] == [(3, 3), (3, 4), (3, 2)] and all(t.dtype == np.float64 for t in times)
    assert np.array_equal(times[0], inputs)
    assert all(np.isinf(t[2]).all() for t in times[1:])                       # nothing in, nothing out
    for layer in times[1:]:
        finite = np.isfinite(layer)
        assert (layer[finite] >= np.broadcast_to(inputs.min(axis=1, keepdims=True), layer.shape)[finite]).all()
    reference = ExactSubstrate().run(net, inputs)
    assert np.isfinite(reference[-1]).any()                                  # a network that spikes
    for ours, exact in zip(times[1:], reference[1:]):
        assert np.array_equal(np.isfinite(ours), np.isfinite(exact))
        assert np.abs(ours[np.isfinite(ours)] - exact[np.isfinite(exact)]).max() < 1e-6
    assert all(np.array_equal(a, b) for a, b in zip(times, substrate.run(net, inputs)))
    fields = set(Noise.__dataclass_fields__)
    for field, reason in entry.unsupported_noise.items():
        assert field in fields and reason
        with pytest.raises(ValueError, match=field.replace("_", " ")):
            make_substrate(name, noise=Noise(**{field: 0.1 if field != "threshold_pattern" else (0.1, 0.1)}),
                           **options)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_gives_its_exact_gradient_and_a_finite_loss_for_silent_outputs(name):
    loss = LOSSES[name]()
    tau_s = 5e-3
    rng = np.random.default_rng(0)
    times = rng.uniform(5e-3, 20e-3, size=(6, 3))
    times[0, 1] = np.inf                                                     # a silent output
    labels = np.array([0, 1, 2, 0, 1, 2])
    values, gradient = loss(times, labels, tau_s)
    assert values.shape == (6,) and gradient.shape == (6, 3) and np.isfinite(values).all()
    step = 1e-7 * tau_s
    for sample, neuron in np.ndindex(times.shape):
        if not np.isfinite(times[sample, neuron]):
            continue
        shifted = [times.copy(), times.copy()]
        shifted[0][sample, neuron] += step
        shifted[1][sample, neuron] -= step
        numeric = (loss(shifted[0], labels, tau_s)[0][sample] - loss(shifted[1], labels, tau_s)[0][sample]) / (2 * step)
        assert gradient[sample, neuron] == pytest.approx(numeric, rel=1e-6, abs=1e-6 / tau_s)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_gives_three_labelled_splits_of_its_declared_shape_the_same_each_time(name):
    if name in IDX_DATASETS:
        try:
            idx_folder(name)
        except ValueError as err:                  # files that ship outside the package: where they are installed
            pytest.skip(str(err))
    dataset = DATASETS[name]
    for split in ("train", "validation", "test"):
        features, labels = dataset.load(split)
        assert features.ndim == 2 and features.shape[1] == dataset.n_features and len(labels) == len(features) > 0
        assert features.dtype == np.float64 and ((features >= 0) & (features <= 1)).all()
        assert set(np.unique(labels)) <= set(range(dataset.n_classes))
        again = dataset.load(split)
        assert np.array_equal(again[0], features) and np.array_equal(again[1], labels)


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_gives_noise_trainer_settings_and_checks_a_network(name):
    profile = PROFILES[name]
    assert isinstance(profile.noise(5e-3), Noise) and isinstance(profile.trainer_settings, dict)
    assert profile.problems(5e-3, 5e-3, 1.0, ("synaptic",), (0.0, 5e-3), 4, 4) is not None


@pytest.mark.parametrize("name", list(DELAY_BOUNDS))
def test_every_delay_bound_keeps_delays_in_range_and_gives_the_chain_rule(name):
    low, high, tau_s = 1e-3, 6e-3, 5e-3
    bounds = DELAY_BOUNDS[name](low, high, tau_s)
    delays = np.array([1.5e-3, 3e-3, 5.5e-3])
    free = bounds.to_free(delays)
    assert np.allclose(bounds.to_delays(free), delays, rtol=0, atol=1e-15)
    stepped = free + np.array([-50.0, 0.0, 50.0])
    bounds.project(stepped)
    assert ((bounds.to_delays(stepped) >= low) & (bounds.to_delays(stepped) <= high)).all()
    step = 1e-6
    numeric = (bounds.to_delays(free + step) - bounds.to_delays(free - step)) / (2 * step)
    assert np.allclose(bounds.free_gradient(free, np.ones(3)), numeric, rtol=1e-6)
