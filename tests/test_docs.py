"""The user guide's examples run as written: the Extending page's substrate trains, the own-network page's
Brian2 network goes in, is trained and comes back out with its membranes drawn."""
import re
from pathlib import Path

import numpy as np

from brian2_delgrad import ExactSubstrate

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"


def _example(page, heading):
    """The first python code block after `heading` on a page of the user guide (docs/guide/<page>)."""
    path = GUIDE / page
    text = path.read_text()
    section = text[text.index(heading):]
    return path, re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_extending_example_registers_a_substrate_that_trains(tmp_path):
    from brian2_delgrad import DelayNetwork, Trainer
    from brian2_delgrad.substrates import SUBSTRATES, make_substrate

    path, code = _example("extending.md", "# Extending")
    scope = {}
    exec(compile(code, str(path), "exec"), scope)
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
    """The own-network page's example, run as written but for 2 epochs instead of 60 (numpy target)."""
    import brian2 as b2

    path, code = _example("own-network.md", "# Your own Brian2 network")
    assert "epochs=60" in code
    monkeypatch.chdir(tmp_path)
    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        scope = {}
        exec(compile(code.replace("epochs=60", "epochs=2"), str(path), "exec"), scope)
    finally:
        b2.prefs.codegen.target = previous
    net, membranes = scope["net"], scope["membranes"]
    assert 0.3 < net.connectivity[0].mean() < 0.7 and net.placements == [("synaptic",)] * 2
    assert all(np.all(w[~m] == 0) for w, m in zip(net.weights, net.connectivity))
    assert membranes.v.shape[0] == 3 and (tmp_path / "membranes.png").stat().st_size > 10_000
