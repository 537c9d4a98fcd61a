"""NIR export and import: the round trip is the identity, the exported graph is the same dynamics when NIR's
equations are integrated independently, and every graph that does not map is refused naming its node."""
import sys

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel
from brian2_delgrad.brian2_io.nir_graphs import from_nir, to_nir
from brian2_delgrad.core.network import random_connectivity

nir = pytest.importorskip("nir", reason="the nir extra is not installed (pip install 'brian2_delgrad[nir]')")


def _consumer_module():
    """benchmarks/nir_consumer.py: snnTorch's run of a graph, and a grid integrator of NIR's equations."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "nir_consumer", Path(__file__).parent.parent / "benchmarks" / "nir_consumer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


consumer = _consumer_module()

PLACEMENTS = ["none", "axonal", "dendritic", "synaptic", "axonal+dendritic+synaptic"]


def assert_same_network(a, b):
    assert (a.sizes, a.placements, a.model) == (b.sizes, b.placements, b.model)
    for k in range(len(a.weights)):
        assert np.array_equal(a.weights[k], b.weights[k]) and np.array_equal(a.connectivity[k], b.connectivity[k])
        assert a.delays[k].keys() == b.delays[k].keys()
        for p in a.delays[k]:
            assert a.delays[k][p].dtype == b.delays[k][p].dtype and np.array_equal(a.delays[k][p], b.delays[k][p])
        assert (a.delay_groups[k] is None and b.delay_groups[k] is None) or \
            np.array_equal(a.delay_groups[k], b.delay_groups[k])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("sizes", [[4, 7, 3], [5, 6, 4, 2]], ids=["one hidden", "two hidden"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_to_nir_write_read_from_nir_is_the_identity(tmp_path, placement, sizes, sparse):
    model = LIFModel(tau_m=7.3e-3, tau_s=2.9e-3, theta=0.83)        # time constants whose ratio is not exact
    connectivity = random_connectivity(sizes, 0.6, seed=3) if sparse else None
    net = DelayNetwork(sizes, delays=placement, model=model, seed=5, connectivity=connectivity,
                       delay_groups=[2 if sizes[0] % 2 == 0 else None] + [None] * (len(sizes) - 2))
    for dt in (None, 1e-4):
        nir.write(tmp_path / "net.nir", to_nir(net, dt=dt))
        assert_same_network(net, from_nir(tmp_path / "net.nir"))
        assert_same_network(net, from_nir(nir.read(tmp_path / "net.nir")))


@pytest.mark.parametrize("placement", ["none", "axonal", "synaptic"])
def test_zero_weights_of_a_dense_layer_stay_synapses(tmp_path, placement):
    net = DelayNetwork([4, 5, 3], delays=placement, seed=0)
    net.set_parameters(weights=[np.where(np.arange(20).reshape(4, 5) % 3 == 0, 0.0, net.weights[0]),
                                np.zeros((5, 3))])       # a neuron's outgoing weights all 0 too
    nir.write(tmp_path / "net.nir", to_nir(net))
    back = from_nir(tmp_path / "net.nir")
    assert_same_network(net, back)
    assert not back.is_sparse and back.n_parameters == net.n_parameters


def test_the_graph_holds_its_reading_and_each_placement_where_the_docs_say():
    net = DelayNetwork([4, 3, 2], delays=["axonal+dendritic", "synaptic"], seed=0)
    graph = to_nir(net)
    assert graph.metadata["spikes"] == "unit impulse" and "time-to-first-spike" in graph.metadata["coding"]
    assert np.array_equal(graph.nodes["layer1_axonal"].delay, net.delays[0]["axonal"])
    assert np.array_equal(graph.nodes["layer1_weights"].weight, net.weights[0].T)
    assert np.array_equal(graph.nodes["layer1_dendritic"].delay, net.delays[0]["dendritic"])
    assert np.array_equal(graph.nodes["layer2_synaptic_1"].delay, net.delays[1]["synaptic"][:, 1])
    assert np.array_equal(graph.nodes["layer2_weights_1"].weight, net.weights[1][:, 1][None])
    assert np.array_equal(graph.nodes["layer2_route_1"].weight, [[0.0], [1.0]])
    lif = graph.nodes["layer2_lif"]
    assert np.all(lif.w_in == 5e-3) and np.all(lif.r == 2.0) and np.all(lif.v_threshold == 1.0)
    assert ("layer1_axonal", "layer1_weights") in graph.edges and ("layer2_route_1", "layer2_lif") in graph.edges
    per_step = to_nir(net, dt=1e-4)
    assert per_step.metadata["dt"] == 1e-4 and np.all(per_step.nodes["layer2_lif"].w_in == 1.0)
    assert np.allclose(per_step.nodes["layer2_lif"].r, 100.0)


@pytest.mark.parametrize("per_step, tau_m", [(False, 10e-3), (True, 10e-3), (False, 5e-3)],
                         ids=["unit impulses", "a 1 per step", "tau_m = tau_s"])
def test_the_exported_graph_integrated_from_nirs_equations_spikes_when_the_network_does(per_step, tau_m):
    net = DelayNetwork([5, 8, 3], delays=["axonal+synaptic", "dendritic"], weight_init=[(0.8, 1.0), (1.0, 1.0)],
                       model=LIFModel(tau_m=tau_m, tau_s=5e-3), seed=4)
    inputs = np.random.default_rng(0).uniform(0, 10e-3, (12, 5))
    inputs[0, 2] = np.inf
    dt = 5e-6
    exact = ExactSubstrate().run(net, inputs)
    first = consumer.integrate_nir(to_nir(net, dt=dt if per_step else None), inputs, dt, 8_000, per_step)
    for layer, name in ((1, "layer1_lif"), (2, "layer2_lif")):
        fired = np.isfinite(exact[layer])
        assert np.array_equal(fired, np.isfinite(first[name])) and fired.mean() > 0.3, name
        # grid: inputs and delays rounded to dt, the crossing seen at the next step: a few steps in all
        assert np.max(np.abs(first[name][fired] - exact[layer][fired])) <= 8 * dt, name


def _graph(**changes):
    """A valid 3-4-2 graph (weights only), with node replacements and edges ``changes`` (not type-checked by nir:
    a file need not be)."""
    net = DelayNetwork([3, 4, 2], delays="none", seed=0)
    graph = to_nir(net)
    edges = changes.pop("edges", graph.edges)
    nodes = dict(graph.nodes, **changes)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False)


def _lif(n=4, **values):
    parameters = dict(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 10e-3), r=np.full(n, 2.0), v_leak=np.zeros(n),
                      v_threshold=np.ones(n), w_in=np.full(n, 5e-3))
    parameters.update(values)
    return nir.CubaLIF(**parameters)


BAD_GRAPHS = {
    "another neuron": (lambda: _graph(layer1_lif=nir.LIF(tau=np.full(4, 1e-2), r=np.ones(4), v_leak=np.zeros(4),
                                                         v_threshold=np.ones(4))),
                       r"NIR node 'layer1_lif': LIF is not supported"),
    "a recurrent edge": (lambda: _graph(edges=to_nir(DelayNetwork([3, 4, 2], delays="none", seed=0)).edges
                                        + [("layer1_lif", "layer1_weights")]),
                         r"NIR node 'layer1_\w+': a recurrent edge"),
    "a bias": (lambda: _graph(layer1_weights=nir.Affine(weight=np.ones((4, 3)), bias=np.full(4, 0.1))),
               r"NIR node 'layer1_weights': a bias does not map"),
    "a leak": (lambda: _graph(layer1_lif=_lif(v_leak=np.full(4, 0.2))), r"NIR node 'layer1_lif': v_leak must be 0"),
    "neurons that differ": (lambda: _graph(layer1_lif=_lif(tau_mem=np.array([1e-2, 1e-2, 2e-2, 1e-2]))),
                            r"NIR node 'layer1_lif': its neurons differ in tau_mem"),
    "layers that differ": (lambda: _graph(layer2_lif=_lif(2, tau_syn=np.full(2, 4e-3), w_in=np.full(2, 4e-3))),
                           r"NIR node 'layer2_lif': tau_syn 0.004 differs from 0.005 of node 'layer1_lif'"),
    "shapes that do not chain": (lambda: _graph(layer2_weights=nir.Linear(weight=np.ones((2, 5)))),
                                 r"NIR node 'layer2_weights': a finite weight of shape \(n, 4\) expected"),
    "a negative delay": (lambda: _graph(edges=[("input", "d"), ("d", "layer1_weights")] + to_nir(
        DelayNetwork([3, 4, 2], delays="none", seed=0)).edges[1:], d=nir.Delay(delay=np.array([1e-3, -1e-3, 0.0]))),
                         r"NIR node 'd': 3 finite delays >= 0"),
    "two inputs": (lambda: _graph(other=nir.Input(input_type={"input": np.array([3])})),
                   r"NIR graph: one Input and one Output node expected"),
    "an image input": (lambda: _graph(input=nir.Input(input_type={"input": np.array([3, 1])})),
                       r"NIR node 'input': a flat input expected"),
    "a fan-out": (lambda: _graph(edges=to_nir(DelayNetwork([3, 4, 2], delays="none", seed=0)).edges + [("layer1_weights",
                                                                                         "layer2_weights")]),
                  r"NIR node 'layer1_weights': feeds 2 nodes"),
    "a threshold at rest": (lambda: _graph(layer1_lif=_lif(v_threshold=np.zeros(4)),
                                           layer2_lif=_lif(2, v_threshold=np.zeros(2))),
                            r"NIR node 'layer1_lif': r, w_in and v_threshold must be positive"),
    "inputs that lower v": (lambda: _graph(layer1_lif=_lif(r=np.full(4, -2.0), v_threshold=np.full(4, -1.0))),
                            r"NIR node 'layer1_lif': r, w_in and v_threshold must be positive"),
    "an output of another size": (lambda: _graph(output=nir.Output(output_type={"output": np.array([7])})),
                                  r"NIR node 'output': 7 channels, the output layer has 2 neurons"),
    "a node off the path": (lambda: _graph(stray=nir.Linear(weight=np.ones((4, 3))),
                                           edges=to_nir(DelayNetwork([3, 4, 2], delays="none", seed=0)).edges
                                           + [("stray", "layer1_lif")]),
                            r"NIR node 'stray': not on the path from the input to the output"),
    "a weight on a missing synapse": (lambda: _graph(layer1_weights=nir.Linear(
        weight=np.ones((4, 3)), metadata={"connectivity": np.eye(4, 3, dtype=bool)})),
                                      r"NIR node 'layer1_weights': a weight where metadata 'connectivity' has no"),
    "a synaptic branch of another width": (lambda: _synaptic_graph(route=nir.Linear(weight=np.ones((1, 1)))),
                                           r"NIR node 'layer2_route_1': a route of 2 channels"),
    "a broken synaptic branch": (lambda: _synaptic_graph(weights=nir.Linear(weight=np.ones((2, 4)))),
                                 r"NIR node 'layer2_synaptic_1': one of 2 nodes fed by 'layer1_lif'"),
}


def _synaptic_graph(**replace):
    """A 3-4-2 graph with synaptic delays into the output layer, branch 1 of which gets ``replace``d nodes."""
    graph = to_nir(DelayNetwork([3, 4, 2], delays=["none", "synaptic"], seed=0))
    nodes = dict(graph.nodes, **{f"layer2_{part}_1": node for part, node in replace.items()})
    return nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)


@pytest.mark.parametrize("case", list(BAD_GRAPHS))
def test_a_graph_that_does_not_map_is_refused_naming_its_node(case):
    make, message = BAD_GRAPHS[case]
    with pytest.raises(ValueError, match=message):
        from_nir(make())


def test_a_damaged_file_is_refused_naming_it(tmp_path):
    (tmp_path / "broken.nir").write_bytes(b"\x89HDF\r\n\x1a\n but not really")
    with pytest.raises(ValueError, match=r"broken.nir: not a NIR graph nir.read can read"):
        from_nir(tmp_path / "broken.nir")


def test_a_graph_of_another_tools_reading_gets_its_threshold_in_this_librarys_units():
    graph = _graph(layer1_lif=_lif(w_in=np.full(4, 1.0), r=np.full(4, 1e-2 / 1e-4), v_threshold=np.full(4, 50.0)),
                   layer2_lif=_lif(2, w_in=np.full(2, 1.0), r=np.full(2, 1e-2 / 1e-4), v_threshold=np.full(2, 50.0)))
    graph.metadata = {}
    with pytest.raises(ValueError, match=r"NIR graph: its metadata does not say how much a spike counts"):
        from_nir(graph)                              # another tool's graph: the reading is the user's to give
    graph.metadata = {"spikes": "unit impulse", "dt": "1e-4"}
    with pytest.raises(ValueError, match=r"NIR graph metadata: dt"):
        from_nir(graph)
    # snnTorch's reading: a spike is a 1 for one step of 1e-4 s, r = tau_mem / dt, and its w_in = 1 scales the
    # current by dt / tau_syn = 0.02: its v is 0.02 / 1e-4 * tau_syn / tau_mem ... = this library's v
    assert from_nir(graph, dt=1e-4).model.theta == pytest.approx(50.0)
    assert from_nir(graph, dt=None).model.theta == pytest.approx(50.0 * 1e-4)   # as unit impulses: 1e4 times the charge


def test_a_graph_written_by_snntorch_is_read_in_its_reading():
    """tests/data/snntorch_4_30_3.nir: snnTorch 1.0.0's export_to_nir (nir 1.0.8) of Linear(4, 30) -> Synaptic ->
    Linear(30, 3) -> Synaptic, alpha 0.98, beta 0.99, threshold 1 (float32): it writes tau = dt / (1 - decay),
    r = tau_mem / dt and w_in = tau_syn / dt for its step dt = 1e-4 s."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / "snntorch_4_30_3.nir"
    graph = nir.read(path)
    net = from_nir(path, dt=1e-4)
    assert net.sizes == (4, 30, 3) and net.placements == [(), ()]
    assert np.array_equal(net.weights[0], np.asarray(graph.nodes["0"].weight, dtype=np.float64).T)
    assert np.array_equal(net.weights[1], np.asarray(graph.nodes["2"].weight, dtype=np.float64).T)
    assert net.model.tau_s_ == pytest.approx(1e-4 / (1 - 0.98), rel=1e-6)
    assert net.model.tau_m_ == pytest.approx(1e-4 / (1 - 0.99), rel=1e-6)
    # snnTorch's membrane adds the whole synaptic current every step: tau_s / dt = 50 times this library's v
    assert net.model.theta == pytest.approx(1 / 50, rel=1e-5)


def test_an_imported_network_trains_and_goes_out_again(tmp_path):
    from brian2_delgrad import Trainer
    from brian2_delgrad.datasets import encode_times, yin_yang_split

    nir.write(tmp_path / "in.nir", to_nir(DelayNetwork([4, 12, 3], delays="axonal+synaptic", seed=0)))
    net = from_nir(tmp_path / "in.nir")
    before = [w.copy() for w in net.weights]
    features, labels = yin_yang_split("train")
    Trainer(net, seed=0, progress=False).fit(encode_times(features[:300], net.model.tau_s), labels[:300], epochs=1)
    assert not np.array_equal(before[0], net.weights[0])
    nir.write(tmp_path / "out.nir", to_nir(net))
    assert_same_network(net, from_nir(tmp_path / "out.nir"))


def test_without_the_nir_package_one_line_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match=r"pip install 'brian2_delgrad\[nir\]'"):
        to_nir(DelayNetwork([2, 2, 2], seed=0))


def test_export_command_writes_the_trained_network_as_a_nir_file(tmp_path, capsys, monkeypatch):
    from brian2_delgrad.cli import main

    trained = str(__import__("pathlib").Path(__file__).parent / "data" / "yinyang_h30_ws_trained.npz")
    assert main(["export", "yinyang_h30_ws", trained, str(tmp_path / "net.nir"), "--dt", "100"]) == 0
    assert "103 NIR nodes" in capsys.readouterr().out
    back = from_nir(tmp_path / "net.nir")
    assert_same_network(DelayNetwork.load(trained), back)
    assert nir.read(tmp_path / "net.nir").metadata["dt"] == 1e-4
    assert main(["export", "yinyang_h30_w", trained, str(tmp_path / "other.nir")]) == 2
    assert "not one of" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "nir", None)
    assert main(["export", "yinyang_h30_ws", trained, str(tmp_path / "net.nir")]) == 2
    assert "pip install 'brian2_delgrad[nir]'" in capsys.readouterr().err


def test_snntorch_runs_the_exported_graph_to_the_same_decisions(tmp_path):
    """Another project's NIR import (optional: where snnTorch and torch are installed; CI has neither, so
    ``benchmarks/nir_consumer.py`` quotes the full comparison)."""
    pytest.importorskip("snntorch", reason="snnTorch is not installed (an optional consumer of the NIR graphs)")
    from pathlib import Path

    from brian2_delgrad import load_model_file

    root = Path(__file__).parent.parent
    net = consumer.slowed(DelayNetwork.load(root / "tests" / "data" / "yinyang_h30_w_trained.npz"), 10.0)
    inputs, labels = load_model_file("yinyang_h30_w").data("test")
    inputs = inputs[:300] * 10.0
    exact = ExactSubstrate().run(net, inputs)[1:]
    nir.write(tmp_path / "net.nir", to_nir(net, dt=consumer.SNNTORCH_DT))
    theirs, margin = consumer.run_snntorch(tmp_path / "net.nir", inputs, 6000, once=True)
    hidden = np.isfinite(exact[0]) & np.isfinite(theirs[0])
    assert np.mean(np.abs(exact[0][hidden] - theirs[0][hidden]) <= 2 * consumer.SNNTORCH_DT) >= 0.9
    assert np.mean(consumer.decisions(exact[1]) == consumer.decisions(theirs[1], margin)) >= 0.98
