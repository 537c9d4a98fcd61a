import glob
import os

import pytest
from brian2 import ms

from brian2_delgrad import load_model_file
from brian2_delgrad.files.toml import ConfigError
from brian2_delgrad.training.losses import ShiftInvariantMSE

MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
PUBLISHED = {"yinyang_h30_w": 210, "yinyang_h30_wa": 244, "yinyang_h30_wd": 243, "yinyang_h30_ws": 420,
             "yinyang_h5_ws": 70}


def test_the_published_networks_are_described():
    files = {os.path.basename(f)[:-5]: f for f in glob.glob(os.path.join(MODELS, "*.toml"))}
    assert set(PUBLISHED) <= set(files)
    for name, count in PUBLISHED.items():
        description = load_model_file(files[name])
        assert description.network(seed=0).n_parameters == count
        assert description.model.tau_m == 10 * ms and description.model.tau_s == 5 * ms
        assert description.training["epochs"] == 300 and description.training["batch_size"] == 150
        assert isinstance(description.loss, ShiftInvariantMSE)
        inputs, labels = description.data("validation")
        assert inputs.shape == (1000, 4) and inputs.min() >= 0.15 * 5e-3 and inputs.max() <= 2.0 * 5e-3


def write(tmp_path, old, new):
    text = open(os.path.join(MODELS, "yinyang_h30_ws.toml")).read()
    assert old in text
    path = tmp_path / "model.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("equations", [
    "dv/dt = (I*tau_m/tau_s - v)/tau_m : 1\ndI/dt = -I/tau_s : 1",
    "dI/dt = -I/tau_s : 1\ndv/dt = I/tau_s - v/tau_m : 1",
])
def test_equivalent_equations_are_accepted(tmp_path, equations):
    path = write(tmp_path, "dv/dt = -v/tau_m + I/tau_s : 1\ndI/dt = -I/tau_s : 1", equations)
    assert load_model_file(path).model.ratio == 2.0


@pytest.mark.parametrize("old, new, message", [
    ("dI/dt = -I/tau_s : 1", "dI/dt = -I/tau_s : 1\ndw/dt = 0/ms : 1", "neuron.equations"),
    ("dv/dt = -v/tau_m + I/tau_s : 1", "dv/dt = -v/tau_m + I/tau_s : volt", "neuron.equations"),
    ("dv/dt = -v/tau_m + I/tau_s : 1", "dv/dt = -v/tau_m + 2*I/tau_s : 1",
     "neuron.equations: dv/dt = .*2.I/tau_s is not -v/tau_m . I/tau_s with tau_m > 0 and the tau_s of dI/dt"),
    ("dv/dt = -v/tau_m + I/tau_s : 1", "dv/dt = -v/tau_s + I/tau_s : 1",            # the check a Brian2 network
     "neuron.equations: give the LIF model with the file's tau_m: they have tau_m = 0.005 s"),   # meets too
    ('threshold = "v > theta"', 'threshold = "v > 2*theta"', "neuron.threshold"),
    ("theta = 1.0", "theta = -1.0", "neuron.theta: must be positive"),
    ('tau_s = "5*ms"', 'tau_s = "5*mV"', "neuron.tau_s: expected a time"),
    ('tau_s = "5*ms"', "tau_s = 0.005", "neuron.tau_s"),
    ("sizes = [4, 30, 3]", "sizes = [4, 0, 3]", "network.sizes"),
    ("sizes = [4, 30, 3]", "sizes = [4]", "network.sizes"),
    ('delay_range = ["0*ms", "5*ms"]', 'delay_range = ["5*ms", "1*ms"]', "network.delay_range"),
    ('delay_bounds = "sigmoid"', 'delay_bounds = "tanh"', "network.delay_bounds"),
    ("weights = [1.0, 1.0]", "weights = [1.0, -1.0]", "init.weights"),
    ("weights = [1.0, 1.0]", "weights = [[1.0, 1.0]]", "init.weights"),
    ('name = "shift_mse"', 'name = "hinge"', "loss.name"),
    ("margin = 0.2", "margni = 0.2", "loss.margni: unknown key"),
    ("batch_size = 150", "batch_size = 0", "training.batch_size"),
    ("lr_decay = 0.95", "lr_decay = 1.5", "training.lr_decay"),
    ("[data]", "[date]", "date: unknown table [date]; did you mean [data]?"),
])
def test_bad_fields_are_named(tmp_path, old, new, message):
    path = write(tmp_path, old, new)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_model_file(path)
    assert str(info.value).startswith(str(path))


def test_invalid_toml_and_missing_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[neuron\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_model_file(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_model_file(tmp_path / "missing.toml")
