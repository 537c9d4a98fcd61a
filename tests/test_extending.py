"""Extending: each kind of extension is one registration in one module, and works end to end from there.

Every test registers its toy extension from here, as a user would from their own module, and then uses it
through a model file and the ``brian2-delgrad`` command line (or the placement through the whole pipeline).
"""
import json
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, load_model_file
from brian2_delgrad.cli import main
from brian2_delgrad.datasets import DATASETS, Dataset, register_dataset
from brian2_delgrad.core.delays import PLACEMENTS, Placement
from brian2_delgrad.exact.gradcheck import gradcheck
from brian2_delgrad.training.losses import LOSSES, predict_labels, register_loss
from brian2_delgrad.substrates.profiles import PROFILES, HardwareProfile, register_profile
from brian2_delgrad.utils.settings import Setting
from brian2_delgrad.substrates import SUBSTRATES, Substrate, make_substrate, register_substrate

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h5_ws.toml")


def model_file(tmp_path, *replacements):
    text = open(MODEL).read()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "model.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def registered():
    """Registers extensions for one test and removes them afterwards."""
    added = []
    yield added
    for registry, name in added:
        del registry[name]


@dataclass(frozen=True)
class LabelAtTarget:
    """Toy loss: the label neuron should fire at ``target`` (in tau_s); 1/2 (t_label - target)^2."""

    target: float = 1.0
    silent_loss: float = 1.0
    SETTINGS: ClassVar[tuple] = (Setting("target", "number", low=0, unit="tau_s"),
                                 Setting("silent_loss", "number", low=0))

    def __post_init__(self):                         # the same checks as a model file's
        for setting in self.SETTINGS:
            object.__setattr__(self, setting.name, setting.check(getattr(self, setting.name)))

    def __call__(self, output_times, labels, tau_s):
        t = np.asarray(output_times) / float(tau_s)
        rows = np.arange(len(labels))
        error = t[rows, labels] - self.target
        spiking = np.isfinite(error)
        gradient = np.zeros_like(t)
        gradient[rows, labels] = np.where(spiking, error, 0.0) / float(tau_s)
        return np.where(spiking, 0.5 * np.where(spiking, error, 0.0) ** 2, self.silent_loss), gradient


def test_a_loss_registered_in_losses_trains_from_a_model_file(tmp_path, registered):
    register_loss("label_at_target", LabelAtTarget)
    registered.append((LOSSES, "label_at_target"))
    path = model_file(tmp_path, ('name = "shift_mse"', 'name = "label_at_target"'), ("margin = 0.2", "target = 1.5"))
    assert main(["train", path, "--epochs", "2", "--quiet", "--out", str(tmp_path / "out")]) == 0
    description = load_model_file(path)
    assert description.loss == LabelAtTarget(target=1.5)
    history = __import__("pandas").read_csv(tmp_path / "out" / "history.csv")
    inputs, labels = description.data("validation")
    untrained = ExactSubstrate().run(description.network(seed=0), inputs)[-1]
    expected = LabelAtTarget(target=1.5)(untrained, labels, description.model.tau_s_)[0].mean()
    first = history[(history.split == "validation") & (history.epoch == 0)].loss.iloc[0]
    assert first == pytest.approx(expected, rel=1e-12)            # the toy loss is what the run measured
    with pytest.raises(ValueError, match="must be an identifier"):
        register_loss("not a name", LabelAtTarget)


class Binned(Substrate):
    """Toy substrate: the exact network, spike times recorded in bins of ``resolution`` seconds (rounded up)."""

    runs = 0

    def __init__(self, resolution=1e-4, noise=None, seed=None, pattern_seed=None, batch_size=None):
        self.resolution = Setting("resolution", "time", low=0, low_open=True).check(resolution)
        super().__init__(noise, seed, pattern_seed, batch_size)
        self._exact = ExactSubstrate(noise=noise, seed=seed, pattern_seed=pattern_seed, batch_size=batch_size)

    @classmethod
    def unsupported_noise(cls, **options):
        return {"membrane": "it has no membrane"}

    def _run(self, net, times):
        Binned.runs += 1
        recorded = self._exact.run(net, times)
        return [recorded[0]] + [np.ceil(t / self.resolution) * self.resolution for t in recorded[1:]]


def test_a_substrate_registered_by_name_runs_from_the_cli(tmp_path, registered, capsys):
    register_substrate("binned", Binned, "spike times in bins")
    registered.append((SUBSTRATES, "binned"))
    assert make_substrate("binned", resolution=2e-4).resolution == 2e-4
    with pytest.raises(ValueError, match="takes no dt"):
        make_substrate("binned", dt=1e-5)
    out = tmp_path / "out"
    assert main(["train", MODEL, "--substrate", "binned", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["substrate"] == "binned" and Binned.runs > 0
    history = __import__("pandas").read_csv(out / "history.csv")
    assert history.loss.notna().all() and 0 < summary["test_accuracy"] <= 1
    with pytest.raises(SystemExit):                  # --dt is Brian2's: the toy has none
        main(["train", MODEL, "--substrate", "binned", "--dt", "5", "--out", str(out)])
    with pytest.raises(ValueError, match="is not a subclass of Substrate"):
        register_substrate("plain", ExactSubstrate.__mro__[-1])


def test_a_profile_registered_in_profiles_shapes_training_from_a_model_file(tmp_path, registered):
    register_profile(HardwareProfile("coarse_chip", weight_step=0.05, weight_limit=3.0, threshold_trial=0.01))
    registered.append((PROFILES, "coarse_chip"))
    path = model_file(tmp_path, ('description = ', 'profile = "coarse_chip"\ndescription = '))
    out = tmp_path / "out"
    assert main(["train", path, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    weights = DelayNetwork.load(out / "parameters.npz").weights
    assert all(np.allclose(w / 0.05, np.round(w / 0.05), atol=1e-9) and np.abs(w).max() <= 3.0 for w in weights)
    assert json.loads((out / "summary.json").read_text())["noise"]["threshold_trial"] == 0.01


def _stripes(split):
    """Toy data: 4 features in [0, 1]; the label is the index of the largest of the first three."""
    rng = np.random.default_rng(dict(train=0, validation=1, test=2)[split])
    features = rng.uniform(size=({"train": 600, "validation": 200, "test": 200}[split], 4))
    return features, features[:, :3].argmax(axis=1)


def test_a_data_set_registered_in_datasets_trains_from_a_model_file(tmp_path, registered):
    register_dataset(Dataset("stripes", 4, 3, _stripes))
    registered.append((DATASETS, "stripes"))
    path = model_file(tmp_path, ('dataset = "yin_yang"', 'dataset = "stripes"'))
    out = tmp_path / "out"
    assert main(["train", path, "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    description = load_model_file(path)
    inputs, labels = description.data("test")
    assert inputs.shape == (200, 4)
    net = DelayNetwork.load(out / "parameters.npz")
    accuracy = np.mean(predict_labels(ExactSubstrate().run(net, inputs)[-1]) == labels)
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    wrong = model_file(tmp_path, ('dataset = "yin_yang"', 'dataset = "stripes"'), ("sizes = [4, 5, 3]", "sizes = [4, 5, 2]"))
    with pytest.raises(ValueError, match="one neuron per class of 'stripes': 3, not 2"):
        load_model_file(wrong)


@pytest.fixture
def presynaptic(monkeypatch):
    """A placement added by one record in delays.PLACEMENTS: one delay per presynaptic neuron, its own variable."""
    monkeypatch.setitem(PLACEMENTS, "presynaptic", Placement("presynaptic", ("pre",), "d_presyn", "presynaptic neuron"))


def test_a_placement_added_in_delays_has_exact_gradients(presynaptic):
    net = DelayNetwork([4, 6, 3], delays="presynaptic+synaptic", weight_init=(1.5, 1.0), seed=3)
    assert net.delays[0]["presynaptic"].shape == (4,) and net.n_parameters == 4 * 6 + 6 * 3 + 4 + 6 + 4 * 6 + 6 * 3
    inputs = np.random.default_rng(3).uniform(0.15, 2.0, size=(8, 4)) * 5e-3
    table = gradcheck(net, inputs)
    assert (table.compared > 0).all() and table.max_rel_diff.max() <= 1e-6
    assert "delays[0]['presynaptic']" in set(table.parameter)


@pytest.mark.brian2
def test_a_placement_added_in_delays_runs_in_brian2(presynaptic):
    from brian2_delgrad import Brian2Substrate

    net = DelayNetwork([4, 6, 3], delays="presynaptic", weight_init=(1.5, 1.0), seed=3)
    inputs = np.random.default_rng(3).uniform(0.15, 2.0, size=(8, 4)) * 5e-3
    exact, simulated = ExactSubstrate().run(net, inputs), Brian2Substrate(target="numpy").run(net, inputs)
    assert np.isfinite(exact[1]).mean() > 0.5
    for a, b in zip(exact[1:], simulated[1:]):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=1e-10)
