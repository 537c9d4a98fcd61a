"""The README's fifteen-line example computes what it says: dL/dw of its loss, as finite differences give it."""
import re
from pathlib import Path

import numpy as np

from brian2_delgrad import ExactSubstrate

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(heading="## Fifteen lines"):
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_fifteen_line_example_gives_the_gradient_of_its_loss():
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    scope = {}
    exec(compile(code, str(README), "exec"), scope)          # the README's own code, as a reader runs it
    net, inputs, grads = scope["net"], scope["inputs"], scope["grads"]
    assert grads.weights[0].shape == (4, 30) and grads.input_times.shape == (150, 4)
    assert all(set(layer) == {"axonal", "dendritic"} for layer in grads.delays)

    def loss():
        T = ExactSubstrate().run(net, inputs)[-1]
        return 0.5 * np.sum(np.where(np.isfinite(T), ((T - 0.012) / 0.005) ** 2, 0.0))

    i, j = np.unravel_index(np.argmax(np.abs(grads.weights[1])), grads.weights[1].shape)
    h, w = 1e-6, net.weights[1][i, j]
    net.weights[1][i, j] = w + h
    up = loss()
    net.weights[1][i, j] = w - h
    down = loss()
    net.weights[1][i, j] = w
    assert abs(grads.weights[1][i, j]) > 0
    np.testing.assert_allclose((up - down) / (2 * h), grads.weights[1][i, j], rtol=1e-5)


def test_the_extending_example_registers_a_substrate_that_trains(tmp_path):
    from brian2_delgrad import DelayNetwork, Trainer
    from brian2_delgrad.substrates import SUBSTRATES, make_substrate

    scope = {}
    exec(compile(_example("## Extending"), str(README), "exec"), scope)
    try:
        substrate = make_substrate("binned", seed=0)
        net = DelayNetwork([4, 5, 3], seed=1)
        inputs = np.random.default_rng(0).uniform(0.15, 2.0, size=(30, 4)) * 5e-3
        times = substrate.run(net, inputs)
        exact = ExactSubstrate().run(net, inputs)
        finite = np.isfinite(exact[-1])
        assert finite.any() and np.all(times[-1][finite] >= exact[-1][finite])
        np.testing.assert_allclose(times[-1][finite] / 1e-4, np.round(times[-1][finite] / 1e-4), atol=1e-6)
        Trainer(net, substrate=substrate, batch_size=10, progress=False).fit(inputs, np.arange(30) % 3, epochs=1)
    finally:
        del SUBSTRATES["binned"]


def test_the_brian2_round_trip_example_trains_and_draws_the_membranes(tmp_path, monkeypatch):
    """The README's own-network example, run as written but for 2 epochs instead of 60 (numpy target)."""
    import brian2 as b2

    code = _example("## Your own Brian2 network")
    assert "epochs=60" in code
    monkeypatch.chdir(tmp_path)
    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        scope = {}
        exec(compile(code.replace("epochs=60", "epochs=2"), str(README), "exec"), scope)
    finally:
        b2.prefs.codegen.target = previous
    net, membranes = scope["net"], scope["membranes"]
    assert 0.3 < net.connectivity[0].mean() < 0.7 and net.placements == [("synaptic",)] * 2
    assert all(np.all(w[~m] == 0) for w, m in zip(net.weights, net.connectivity))
    assert membranes.v.shape[0] == 3 and (tmp_path / "membranes.png").stat().st_size > 10_000
