"""Sparse connectivity: missing synapses have no weight, no gradient, no step, and stay absent everywhere."""
import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, Trainer, backward, load_model_file
from brian2_delgrad.datasets import encode_times, yin_yang_split
from brian2_delgrad.exact.gradcheck import CHECKED_PLACEMENTS, gradcheck
from brian2_delgrad.core.network import random_connectivity
from conftest import yin_yang_like_inputs


def sparse_net(placement, seed, sizes=(4, 8, 3), p=0.5, **options):
    masks = random_connectivity(sizes, p, seed)
    return DelayNetwork(list(sizes), delays=placement, weight_init=(2.0, 1.0), seed=seed, connectivity=masks,
                        **options)


def test_missing_synapses_have_no_weight_and_are_not_counted(tmp_path):
    net = sparse_net("axonal+synaptic", 1, delay_groups=[2, None])
    mask = net.connectivity[0]
    assert 0 < mask.mean() < 1 and np.all(net.weights[0][~mask] == 0) and np.all(net.weights[0][mask] != 0)
    used = net.used_delays(0)
    pairs = np.zeros((2, 8), bool)
    np.logical_or.at(pairs, np.arange(4) // 2, mask)
    assert np.array_equal(used["synaptic"], pairs) and np.array_equal(used["axonal"], pairs.any(axis=1))
    expected = sum(m.sum() for m in net.connectivity) + pairs.sum() + pairs.any(axis=1).sum() + \
        net.connectivity[1].sum() + net.connectivity[1].any(axis=1).sum()
    assert net.n_parameters == expected
    net.save(tmp_path / "sparse.npz")
    loaded = DelayNetwork.load(tmp_path / "sparse.npz")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.connectivity, net.connectivity))
    assert loaded.n_parameters == net.n_parameters and "connectivity" in repr(loaded)
    with pytest.raises(ValueError, match=r"weights\[0\]\[\d+, \d+\] is 1.0: the synapse \d+ -> \d+ is missing"):
        net.set_parameters(weights=[np.ones((4, 8)), net.weights[1]])
    with pytest.raises(ValueError, match=r"connectivity\[0\] must be None or a boolean array of shape \(4, 8\)"):
        DelayNetwork([4, 8, 3], connectivity=[np.ones((4, 8)), None])


def test_a_dense_mask_is_the_dense_network():
    dense = DelayNetwork([4, 8, 3], seed=3)
    masked = DelayNetwork([4, 8, 3], seed=3, connectivity=[np.ones((4, 8), bool), None])
    assert all(np.array_equal(a, b) for a, b in zip(dense.weights, masked.weights)) and not masked.is_sparse


@pytest.mark.parametrize("placement", CHECKED_PLACEMENTS)
def test_sparse_gradients_match_finite_differences(placement):
    seed = 40 + CHECKED_PLACEMENTS.index(placement)
    net = sparse_net(placement, seed, sizes=(4, 10, 3), p=0.6)
    inputs = yin_yang_like_inputs(8, seed=seed)
    table = gradcheck(net, inputs, seed=seed)
    assert table.nonzero.sum() >= 30 and table.max_rel_diff.max() <= 1e-6, table.to_string()
    times = ExactSubstrate().run(net, inputs)
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    for compiled in (True, False):
        grads = backward(net, times, error, compiled=compiled)
        for gradient, mask in zip(grads.weights, net.connectivity):
            assert np.all(gradient[~mask] == 0) and np.any(gradient[mask] != 0)
        for gradients, used in zip(grads.delays, (net.used_delays(k) for k in range(2))):
            assert all(np.all(gradients[p][~used[p]] == 0) for p in gradients)


def test_the_guard_ignores_missing_synapses():
    """A missing synapse's would-be weight gradient must not trip the grazing guard (compiled and NumPy alike)."""
    net = sparse_net("synaptic", 7, sizes=(4, 30, 3), p=0.5)
    times = ExactSubstrate().run(net, yin_yang_like_inputs(100, seed=7))
    error = np.where(np.isfinite(times[-1]), np.random.default_rng(7).normal(size=times[-1].shape), 0.0)
    fast, reference = (backward(net, times, error, max_weight_gradient=2e-3, compiled=c) for c in (True, False))
    assert fast.guarded == reference.guarded > 0
    for a, b in zip(fast.weights, reference.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max())


@pytest.fixture(scope="module")
def data():
    features, labels = yin_yang_split("train")
    val_features, val_labels = yin_yang_split("validation")
    return (encode_times(features[:600], 5 * ms), labels[:600], encode_times(val_features[:200], 5 * ms),
            val_labels[:200])


def test_sparse_training_keeps_missing_synapses_absent_through_a_resume(data, tmp_path):
    X, y, Xv, yv = data

    def make():
        net = sparse_net("synaptic", 5, sizes=(4, 20, 3), p=0.5)
        return Trainer(net, seed=5, hidden_silence=0.05, progress=False)        # bumps happen too

    straight = make()
    history = straight.fit(X, y, validation=(Xv, yv), epochs=4)
    validation = history[history.split == "validation"].loss
    assert history.skipped.sum() > 0 and validation.iloc[-1] < 0.8 * validation.iloc[0]     # it learns
    first = make()
    first.fit(X, y, validation=(Xv, yv), epochs=2, checkpoint=tmp_path / "run.ckpt")
    second = make()
    second.fit(X, y, validation=(Xv, yv), epochs=4, resume=tmp_path / "run.ckpt")
    for trainer in (straight, second):
        for selection in ("last_parameters_", "best_parameters_"):
            for weights, mask in zip(getattr(trainer, selection)["weights"], trainer.net.connectivity):
                assert np.all(weights[~mask] == 0) and np.all(weights[mask] != 0)
    for a, b in zip(straight.net.weights, second.net.weights):
        assert np.array_equal(a, b)
    other = DelayNetwork([4, 20, 3], delays="synaptic", weight_init=(2.0, 1.0), seed=5,
                         connectivity=random_connectivity((4, 20, 3), 0.5, 6))
    with pytest.raises(ValueError, match="another network"):
        Trainer(other, seed=5, hidden_silence=0.05, progress=False).fit(X, y, epochs=5, resume=tmp_path / "run.ckpt")


def test_model_files_give_a_connection_probability(tmp_path):
    import os

    text = open(os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h30_ws.toml")).read()
    path = tmp_path / "sparse.toml"
    path.write_text(text.replace('delays = "synaptic"', 'delays = "synaptic"\nconnection_probability = [0.5, 1.0]'))
    description = load_model_file(path)
    a, b, c = description.network(seed=1), description.network(seed=1), description.network(seed=2)
    assert 0.3 < a.connectivity[0].mean() < 0.7 and a.connectivity[1].all()
    assert np.array_equal(a.connectivity[0], b.connectivity[0]) and not np.array_equal(a.connectivity[0],
                                                                                       c.connectivity[0])
    assert a.n_parameters == 2 * a.connectivity[0].sum() + 2 * 30 * 3
    path.write_text(text.replace('delays = "synaptic"', 'delays = "synaptic"\nconnection_probability = 1.5'))
    with pytest.raises(ValueError, match=r"network.connection_probability: must be in \(0, 1\], got 1.5"):
        load_model_file(path)


def test_neurons_without_inputs_and_layers_without_synapses(data):
    """A neuron without inputs cannot spike: the missing-spike rule leaves it out instead of skipping every batch;
    a layer without any synapse runs (everything after it is silent)."""
    X, y, _, _ = data
    masks = [np.ones((4, 10), bool), np.ones((10, 3), bool)]
    masks[0][:, 0] = False                              # hidden neuron 0 has no inputs
    masks[1][:, 2] = False                              # output neuron 2 has no inputs
    net = DelayNetwork([4, 10, 3], delays="synaptic", weight_init=(2.0, 1.0), seed=4, connectivity=masks)
    history = Trainer(net, seed=4, hidden_silence=0.0, progress=False).fit(X[:300], y[:300], epochs=2)
    assert history.skipped.max() < 2 and np.all(np.isfinite(net.weights[0])) and np.all(net.weights[0][:, 0] == 0)
    empty = DelayNetwork([4, 5, 3], connectivity=[np.zeros((4, 5), bool), None])
    assert np.isinf(ExactSubstrate().run(empty, X[:3])[-1]).all() and empty.n_parameters == 15 + 15 + 0


def test_a_connection_seed_needs_a_probability(tmp_path):
    import os

    text = open(os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h30_ws.toml")).read()
    path = tmp_path / "seed.toml"
    path.write_text(text.replace('delays = "synaptic"', 'delays = "synaptic"\nconnection_seed = 3'))
    with pytest.raises(ValueError, match="network.connection_seed: draws a random connectivity: give "
                                         "connection_probability too"):
        load_model_file(path)
