"""Settings declared once: the Python API and the model file give the same verdict on every value."""
import os
import re

import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import Brian2Substrate, DelayNetwork, ExactSubstrate, LIFModel, ShiftInvariantMSE, Trainer
from brian2_delgrad import TTFSCrossEntropy, load_model_file
from brian2_delgrad.datasets import ENCODING_SETTINGS, encode_times
from brian2_delgrad.core.delays import DELAY_RANGE
from brian2_delgrad.files.modelfile import _TRAINING
from brian2_delgrad.core.network import DELAY_INIT
from brian2_delgrad.training.optim import DELAY_BOUNDS, DELAY_BOUNDS_SETTING, SigmoidBounds
from brian2_delgrad.utils.settings import Setting

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h5_ws.toml")


def probes(setting):
    """Values around a declaration's edges, as ``(python value, TOML text)``: some accepted, some not."""
    if setting.kind == "boolean":
        return [(True, "true"), (False, "false"), (1, "1"), ("yes", '"yes"')]
    if setting.kind == "choice":
        return [(setting.allowed()[0], f'"{setting.allowed()[0]}"'), ("tanh", '"tanh"'), (True, "true")]
    if setting.kind == "time_range":
        return [((0 * ms, 5 * ms), '["0*ms", "5*ms"]'), ((1 * ms, 1 * ms), '["1*ms", "1*ms"]'),
                ((2 * ms, 1 * ms), '["2*ms", "1*ms"]'), ((-1 * ms, 5 * ms), '["-1*ms", "5*ms"]')]
    if setting.kind == "time":
        return [(5 * ms, '"5*ms"'), (0 * ms, '"0*ms"'), (-1 * ms, '"-1*ms"')]
    values = [True, "a"]
    for edge in (setting.low, setting.high):
        if edge is not None:
            values += [edge - 1, edge, edge + 1] if setting.kind == "integer" else [edge - 0.5, edge, edge + 0.25]
    return [(v, "true" if v is True else '"a"' if v == "a" else repr(v)) for v in values]


def verdict(make):
    """``'ok'`` or ``'refused'``."""
    try:
        make()
    except ValueError:
        return "refused"
    return "ok"


def from_file(tmp_path, section, key, text):
    """Load the model file with ``[section] key = text`` and build everything it describes (an encoding
    that widens the inputs with an input layer to match)."""
    source = open(MODEL).read()
    widened = {"mirror": 8, "reference": 5}
    if key in widened and text == "true":
        source = source.replace("sizes = [4, 5, 3]", f"sizes = [{widened[key]}, 5, 3]")
    pattern = re.compile(rf"^{key} = .*$", re.M)
    body = source.split(f"[{section}]")[1].split("\n[")[0]
    new_body = pattern.sub(f"{key} = {text}", body, count=1) if pattern.search(body) else \
        body.replace("\n", f"\n{key} = {text}\n", 1)
    path = tmp_path / "model.toml"
    path.write_text(source.replace(body, new_body, 1))

    def make():
        description = load_model_file(path)
        description.trainer(description.network(seed=0), progress=False)
        description.data("validation")
    return make


def the_api(section, name, value):
    """The same value given to the Python API."""
    def make():
        if section == "neuron":
            LIFModel(**{name: value})
        elif section == "loss":
            ShiftInvariantMSE(**{name: value})
        elif section == "data":
            encode_times([[0.5]], 5 * ms, **{name: value})
        elif name == "delay_init":
            DelayNetwork([4, 5, 3], delay_init=value)
        elif name == "delay_range":
            Trainer(DelayNetwork([4, 5, 3], delay_range=value), delay_range=value, progress=False)
        else:
            Trainer(DelayNetwork([4, 5, 3]), **{name: value}, progress=False)
    return make


TRAINER = {setting.name: setting for setting in Trainer.SETTINGS}
CASES = ([("neuron", s.name, s) for s in LIFModel.SETTINGS]
         + [("loss", s.name, s) for s in ShiftInvariantMSE.SETTINGS]
         + [("data", s.name, s) for s in ENCODING_SETTINGS]
         + [("init", "delays", DELAY_INIT), ("network", "delay_range", DELAY_RANGE),
            ("network", "delay_bounds", DELAY_BOUNDS_SETTING)]
         + [("training", key, TRAINER[key]) for key in _TRAINING])


@pytest.mark.parametrize("section, key, setting", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_the_api_and_the_model_file_give_the_same_verdict(tmp_path, section, key, setting):
    verdicts = []
    for value, text in probes(setting):
        api = verdict(the_api(section, setting.name, value))
        toml = verdict(from_file(tmp_path, section, key, text))
        assert api == toml, f"{setting.name} = {value!r}: the API says {api}, the model file says {toml}"
        verdicts.append(api)
    assert {"ok", "refused"} <= set(verdicts)            # the probes reach both sides of the declaration


def test_the_drifts_that_were_found_now_agree(tmp_path):
    """batch_size = true, margin = 0, a delay range with low == high, delay_bounds: one verdict each, everywhere."""
    for make in (lambda: Trainer(DelayNetwork([4, 5, 3]), batch_size=True), lambda: ExactSubstrate(batch_size=True),
                 lambda: Brian2Substrate(batch_size=True), lambda: Brian2Substrate(copies=True),
                 from_file(tmp_path, "training", "batch_size", "true")):
        with pytest.raises(ValueError, match="batch_size|copies"):
            make()
    for make in (lambda: ShiftInvariantMSE(margin=0), from_file(tmp_path, "loss", "margin", "0.0")):
        with pytest.raises(ValueError, match="margin: must be positive|margin must be positive"):
            make()
    for make in (lambda: DelayNetwork([4, 5, 3], delay_range=(1 * ms, 1 * ms)),
                 lambda: Trainer(DelayNetwork([4, 5, 3]), delay_range=(1 * ms, 1 * ms)),
                 lambda: SigmoidBounds(1e-3, 1e-3, 5e-3),
                 from_file(tmp_path, "network", "delay_range", '["1*ms", "1*ms"]')):
        with pytest.raises(ValueError, match="low < high"):
            make()
    for make in (lambda: Trainer(DelayNetwork([4, 5, 3]), delay_bounds="tanh"),
                 from_file(tmp_path, "network", "delay_bounds", '"tanh"')):
        with pytest.raises(ValueError, match="delay_bounds.*one of 'sigmoid', 'clip', got 'tanh'"):
            make()


def test_a_new_delay_bounds_method_is_accepted_by_the_api_and_files_at_once(tmp_path, monkeypatch):
    class Tanh(SigmoidBounds):
        method = "tanh"

    monkeypatch.setitem(DELAY_BOUNDS, "tanh", Tanh)
    assert isinstance(Trainer(DelayNetwork([4, 5, 3]), delay_bounds="tanh").bounds, Tanh)
    from_file(tmp_path, "network", "delay_bounds", '"tanh"')()


def test_the_other_loss_is_declared_the_same_way(tmp_path):
    for setting in TTFSCrossEntropy.SETTINGS:
        for value, _ in probes(setting):
            assert verdict(lambda: TTFSCrossEntropy(**{setting.name: value})) == \
                verdict(lambda: setting.check(value))


def test_a_setting_names_what_is_allowed():
    rate = Setting("lr_decay", "number", low=0, high=1, low_open=True)
    with pytest.raises(ValueError, match=r"lr_decay must be in \(0, 1\], got 1.5"):
        rate.check(1.5)
    assert DELAY_RANGE.check(None) is None and DELAY_RANGE.check((0 * ms, 5 * ms)) == (0.0, 0.005)
    assert np.isclose(LIFModel.SETTINGS[0].check(10 * ms), 0.01)


def test_every_default_is_declared_once_and_read_by_the_signatures_and_the_model_files(tmp_path):
    """A signature's default of a declared setting is the setting's; a model file of sizes and data alone makes the
    objects the API makes with no arguments; a ``name=...`` that names no declared default is refused at once."""
    import inspect

    from brian2_delgrad import to_brian2
    from brian2_delgrad.datasets import check_encoding
    from brian2_delgrad.training.trainer import EPOCHS
    from brian2_delgrad.brian2_io.builder import DT, TIMING
    from brian2_delgrad.utils.settings import takes_settings

    configurables = [(LIFModel, LIFModel.SETTINGS), (Trainer, Trainer.SETTINGS), (Trainer.fit, (EPOCHS,)),
                     (DelayNetwork, (DELAY_RANGE, DELAY_INIT)), (ExactSubstrate, ExactSubstrate.SETTINGS),
                     (Brian2Substrate, Brian2Substrate.SETTINGS), (encode_times, ENCODING_SETTINGS),
                     (check_encoding, ENCODING_SETTINGS), (to_brian2, (DT, TIMING)),
                     (ShiftInvariantMSE, ShiftInvariantMSE.SETTINGS), (TTFSCrossEntropy, TTFSCrossEntropy.SETTINGS)]
    checked = 0
    for function, settings in configurables:
        parameters = inspect.signature(function).parameters
        for setting in settings:
            assert setting.default is not ..., setting.name
            if setting.name in parameters:
                assert parameters[setting.name].default is setting.default, (function, setting.name)
                checked += 1
    assert checked >= 30
    path = tmp_path / "minimal.toml"
    path.write_text('[network]\nsizes = [4, 5, 3]\n[data]\ndataset = "yin_yang"\n')
    description = load_model_file(path)
    assert repr(description.network(seed=2)) == repr(DelayNetwork([4, 5, 3], seed=2))
    assert description.loss == ShiftInvariantMSE() and description.training["epochs"] == EPOCHS.default
    trainer = description.trainer(description.network(seed=2), progress=False)
    api = Trainer(DelayNetwork([4, 5, 3], seed=2), progress=False)
    assert all(getattr(trainer, s.name) == getattr(api, s.name) for s in Trainer.SETTINGS if s.name != "progress")
    with pytest.raises(TypeError, match="rate=... names no setting with a default"):
        takes_settings(DELAY_INIT)(lambda rate=...: rate)
