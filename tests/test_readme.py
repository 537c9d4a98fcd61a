"""The README's fifteen-line example computes what it says: dL/dw of its loss, as finite differences give it.

The other examples that used to live in the README (extending, your own Brian2 network) are now in the
user guide and run from tests/test_docs.py."""
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


def test_the_readme_links_into_the_guide_and_the_guide_holds_the_fifteen_lines():
    """Every relative link of the README points at a file that exists; the concepts page shows the same example."""
    root = README.parent
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", README.read_text())
    assert links and all((root / link).exists() for link in links), [l for l in links if not (root / l).exists()]
    concepts = (root / "docs" / "guide" / "concepts.md").read_text()
    assert _example() in concepts
