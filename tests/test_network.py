import numpy as np
import pytest
from brian2 import ms, mV

from brian2_delgrad import DelayNetwork, LIFModel
from brian2_delgrad.core.delays import parse_placements


@pytest.mark.parametrize("hidden, placement, expected", [
    (30, "none", 210), (30, "axonal", 244), (30, "dendritic", 243), (30, "synaptic", 420),
    (5, "none", 35), (5, "axonal", 44), (5, "dendritic", 43), (5, "synaptic", 70),
])
def test_parameter_counts_match_the_published_ones(hidden, placement, expected):
    assert DelayNetwork([4, hidden, 3], delays=placement).n_parameters == expected


def test_delay_shapes_and_range():
    net = DelayNetwork([4, 30, 3], delays="axonal+dendritic+synaptic", seed=1)
    assert net.delays[0]["axonal"].shape == (4,)
    assert net.delays[0]["dendritic"].shape == (30,)
    assert net.delays[1]["synaptic"].shape == (30, 3)
    every = np.concatenate([d.ravel() for layer in net.delays for d in layer.values()])
    assert np.all((every > 0) & (every < 5e-3))                   # in (0, tau_s) seconds
    total = net.total_delays(0)
    expected = net.delays[0]["axonal"][:, None] + net.delays[0]["dendritic"][None] + net.delays[0]["synaptic"]
    np.testing.assert_allclose(total, expected)


def test_per_layer_placements():
    net = DelayNetwork([4, 6, 3], delays=["axonal", "none"])
    assert net.placements == [("axonal",), ()]
    assert net.delays[1] == {}
    assert np.all(net.total_delays(1) == 0)


def test_same_seed_same_network():
    a, b, c = DelayNetwork([4, 6, 3], seed=3), DelayNetwork([4, 6, 3], seed=3), DelayNetwork([4, 6, 3], seed=4)
    assert np.array_equal(a.weights[0], b.weights[0]) and np.array_equal(a.delays[1]["synaptic"], b.delays[1]["synaptic"])
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_weight_init_mean_and_std():
    net = DelayNetwork([200, 200, 3], delays="none", weight_init=[(0.5, 1.0), (2.0, 0.0)], seed=0)
    assert net.weights[0].mean() == pytest.approx(0.5, abs=0.02)
    assert net.weights[0].std() == pytest.approx(1.0, abs=0.02)
    assert np.all(net.weights[1] == 2.0)


def test_set_parameters_takes_actual_delays_with_units():
    net = DelayNetwork([4, 6, 3], delays="axonal")
    net.set_parameters(weights=[np.ones((4, 6)), np.ones((6, 3))],
                       delays=[{"axonal": np.arange(4) * ms}, {"axonal": np.zeros(6)}])
    np.testing.assert_allclose(net.delays[0]["axonal"], np.arange(4) * 1e-3)
    assert net.weights[1].dtype == np.float64


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[np.ones((4, 6))]), "weights"),
    (dict(weights=[np.ones((4, 6)), np.ones((6, 4))]), r"weights\[1\]"),
    (dict(weights=[np.ones((4, 6)), np.ones(3)]), r"weights\[1\]"),       # nothing is broadcast
    (dict(weights=[np.full((4, 6), np.nan), np.ones((6, 3))]), r"weights\[0\].*NaN"),
    (dict(delays=[{"axonal": -np.ones(4)}, {"axonal": np.zeros(6)}]), r"delays\[0\]\['axonal'\].*>= 0"),
    (dict(delays=[{"axonal": np.ones(4) * mV}, {"axonal": np.zeros(6)}]), r"delays\[0\]"),
    (dict(delays=[{"synaptic": np.ones((4, 6))}, {"axonal": np.zeros(6)}]), r"delays\[0\].*keys"),
    (dict(delays=[{"axonal": np.ones(5)}, {"axonal": np.zeros(6)}]), r"delays\[0\].*shape"),
    (dict(weights=[np.ones((4, 6)) * ms, np.ones((6, 3))]), r"weights\[0\] must be dimensionless"),
])
def test_set_parameters_rejects_bad_values(kwargs, match):
    net = DelayNetwork([4, 6, 3], delays="axonal")
    before = [w.copy() for w in net.weights]
    with pytest.raises(ValueError, match=match):
        net.set_parameters(**kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=[4]), "sizes"), (dict(sizes=[4, 0, 3]), "sizes"), (dict(sizes=[4, 2.5, 3]), "sizes"),
    (dict(sizes=[4, 6, 3], delays="somatic"), "delays.*somatic"),
    (dict(sizes=[4, 6, 3], delays="axonal+axonal"), "delays.*repeated"),
    (dict(sizes=[4, 6, 3], delays=["axonal"]), "delays"),
    (dict(sizes=[4, 6, 3], delays=3), "delays"),
    (dict(sizes=[4, 6, 3], model="lif"), "model"),
    (dict(sizes=[4, 6, 3], weight_init=(1.0, -1.0)), "weight_init"),
    (dict(sizes=[4, 6, 3], weight_init=(1 * ms, 1.0)), "weight_init"),
    (dict(sizes=[4, 6, 3], weight_init=[1.0]), "weight_init"),
    (dict(sizes=[4, 6, 3], seed=-1), "seed"), (dict(sizes=[4, 6, 3], seed="a"), "seed"),
    (dict(sizes=[4, 6, 3], delay_range=(2 * ms, 1 * ms)), "delay_range"),
    (dict(sizes=[4, 6, 3], delay_range=(-1 * ms, 1 * ms)), "delay_range"),
    (dict(sizes=[4, 6, 3], delay_init=-0.1), "delay_init"), (dict(sizes=[4, 6, 3], delay_init=True), "delay_init"),
    (dict(sizes=[4, 6, 3], delay_groups=[3, None]), r"delay_groups\[0\]: 3 copies .* do not divide the 4"),
    (dict(sizes=[4, 6, 3], delay_groups=[2]), "delay_groups"),
    (dict(sizes=[4, 6, 3], delay_groups=[[0, 0, 2, 2], None]), r"delay_groups\[0\]: group indices"),
    (dict(sizes=[4, 6, 3], delay_groups=[[0, 0, 1], None]), r"delay_groups\[0\] must be"),
    (dict(sizes=[4, 6, 3], delay_groups=[[0.0, 0.0, 1.0, 1.0], None]), r"delay_groups\[0\] must be"),
])
def test_bad_constructor_arguments_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayNetwork(**kwargs)


def test_weight_init_as_a_list_is_one_pair_as_in_model_files():
    as_list = DelayNetwork([4, 6, 3], weight_init=[0.5, 2.0], seed=3)
    per_layer = DelayNetwork([4, 6, 3], weight_init=[(0.5, 2.0), np.array([0.5, 2.0])], seed=3)
    as_tuple = DelayNetwork([4, 6, 3], weight_init=(0.5, 2.0), seed=3)
    for a, b, c in zip(as_list.weights, per_layer.weights, as_tuple.weights):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def test_placement_parsing_is_canonical():
    assert parse_placements("synaptic+axonal", 2) == [("axonal", "synaptic")] * 2
    assert parse_placements(" none ", 1) == [()]
    with pytest.raises(ValueError, match="none"):
        parse_placements("none+axonal", 1)


def test_model_and_repr():
    net = DelayNetwork([4, 6, 3], delays="axonal+dendritic", model=LIFModel(tau_m=5 * ms))
    assert net.model.ratio == 1.0
    assert "axonal+dendritic" in repr(net)
    copy = net.copy()
    copy.weights[0][0, 0] += 1
    assert copy.weights[0][0, 0] != net.weights[0][0, 0]


def test_tied_delays_have_one_value_per_group_shared_by_its_neurons():
    net = DelayNetwork([6, 4, 3], delays="axonal+dendritic+synaptic", delay_groups=[2, None], seed=2)
    assert net.delays[0]["axonal"].shape == (3,) and net.delays[0]["synaptic"].shape == (3, 4)
    assert net.delays[0]["dendritic"].shape == (4,) and net.delays[1]["axonal"].shape == (4,)
    assert net.n_parameters == 6 * 4 + 4 * 3 + (3 + 4 + 12) + (4 + 3 + 12)
    total = net.total_delays(0)
    np.testing.assert_array_equal(total[0], total[1])                  # copies 0 and 1 share every delay
    np.testing.assert_array_equal(net.neuron_delays(0)["axonal"], np.repeat(net.delays[0]["axonal"], 2))
    explicit = DelayNetwork([6, 4, 3], delays="axonal+dendritic+synaptic", delay_groups=[[0, 0, 1, 1, 2, 2], 1],
                            seed=2)
    np.testing.assert_array_equal(explicit.total_delays(0), total)
    untied = DelayNetwork([6, 4, 3], delays="axonal", delay_groups=[1, None])
    assert untied.delay_groups == [None, None] and untied.delays[0]["axonal"].shape == (6,)
    with pytest.raises(ValueError, match=r"delays\[0\]\['axonal'\].*shape"):
        net.set_parameters(delays=[dict(net.delays[0], axonal=np.zeros(6)), net.delays[1]])


def test_delay_init_sets_the_spread_of_the_initial_delays():
    narrow, wide = (DelayNetwork([4, 200, 3], delays="synaptic", delay_init=s, seed=1).delays[0]["synaptic"]
                    for s in (0.25, 0.5))
    z = [np.log(d / (5e-3 - d)) for d in (narrow, wide)]              # back through the sigmoid on (0, tau_s)
    assert z[0].std() == pytest.approx(0.25, rel=0.05) and z[1].std() == pytest.approx(0.5, rel=0.05)


def test_save_and_load_round_trip_and_refuse_other_files(tmp_path):
    tied = DelayNetwork([6, 4, 3], delays="axonal+synaptic", delay_groups=[[0, 1, 0, 1, 2, 2], None], seed=4)
    tied.save(tmp_path / "tied.npz")
    loaded = DelayNetwork.load(tmp_path / "tied.npz")
    np.testing.assert_array_equal(loaded.delay_groups[0], [0, 1, 0, 1, 2, 2])
    assert loaded.delay_groups[1] is None
    np.testing.assert_array_equal(loaded.total_delays(0), tied.total_delays(0))
    net = DelayNetwork([4, 6, 3], delays=["axonal", "dendritic+synaptic"], model=LIFModel(tau_m=5 * ms), seed=4)
    net.save(tmp_path / "net.npz")
    loaded = DelayNetwork.load(tmp_path / "net.npz")
    assert loaded.placements == net.placements and loaded.model.ratio == net.model.ratio
    for a, b in zip(loaded.weights, net.weights):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.delays, net.delays):
        assert a.keys() == b.keys() and all(np.array_equal(a[p], b[p]) for p in a)
    np.savez(tmp_path / "other.npz", weights_0=np.ones((4, 6)))
    (tmp_path / "text.npz").write_text("not numpy")
    for name in ("other.npz", "text.npz", "missing.npz"):
        with pytest.raises(ValueError, match="not a network written by DelayNetwork.save"):
            DelayNetwork.load(tmp_path / name)
