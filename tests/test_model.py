import math

import numpy as np
import pytest
from brian2 import Equations, ms, mV, second

from brian2_delgrad import LIFModel


def test_defaults_carry_units_and_ratio():
    model = LIFModel()
    assert model.tau_m == 10 * ms and model.tau_s == 5 * ms and model.theta == 1.0
    assert model.ratio == 2.0
    assert model.namespace == {"tau_m": 10 * ms, "tau_s": 5 * ms, "theta": 1.0}


def test_equations_are_the_brian2_model():
    eqs = LIFModel().equations
    assert isinstance(eqs, Equations)
    assert set(eqs.diff_eq_names) == {"v", "I"}
    assert eqs["v"].expr.code.replace(" ", "") in ("-v/tau_m+I/tau_s", "I/tau_s-v/tau_m")
    assert eqs["I"].expr.code.replace(" ", "") == "-I/tau_s"
    assert LIFModel.on_pre == "I += w" and LIFModel.threshold == "v > theta"


def test_equal_time_constants_use_a_single_tau():
    # Brian2's exact integrator divides by tau_m - tau_s otherwise.
    model = LIFModel(tau_m=5 * ms, tau_s=5 * ms)
    assert "tau_m" not in str(model.equations) and "tau_s" not in str(model.equations)
    assert model.namespace == {"tau": 5 * ms, "theta": 1.0}


def test_plain_floats_are_seconds():
    assert LIFModel(tau_m=0.01, tau_s=0.005).tau_m == 10 * ms


@pytest.mark.parametrize("field, value", [
    ("tau_m", -10 * ms), ("tau_m", 0 * ms), ("tau_m", math.nan), ("tau_s", float("inf") * second),
    ("tau_s", 5 * mV), ("tau_m", "10 ms"), ("theta", -1.0), ("theta", math.nan), ("theta", 0.0),
    ("theta", 2 * mV), ("theta", "one"), ("tau_s", np.array([5e-3, 5e-3])),
])
def test_invalid_fields_raise_value_error_naming_them(field, value):
    with pytest.raises(ValueError, match=field):
        LIFModel(**{field: value})


def test_models_compare_by_value():
    assert LIFModel() == LIFModel(tau_m=10 * ms)
    assert LIFModel() != LIFModel(theta=1.1)
    assert hash(LIFModel()) == hash(LIFModel())


def test_time_constants_as_quantities_and_float_seconds():
    model = LIFModel(tau_m=10 * ms, tau_s=5 * ms)
    assert model.tau_m == 10 * ms and model.tau_s_ == pytest.approx(5e-3)
    assert model.tau_m_ == float(model.tau_m / second) and isinstance(model.tau_s_, float)
    with pytest.raises(AttributeError):
        model.tau_m_ = 1.0
