"""Tests of the strict, eval-free quantity parser of TOML model and study files."""
import ast
import inspect
import math

import brian2
import numpy as np
import pytest
from brian2 import Hz, Mohm, amp, have_same_dimensions, kHz, mV, ms, nA, nS, pF, second, us, volt
from brian2.units.fundamentalunits import DIMENSIONLESS

from brian2_delgrad.files import quantities
from brian2_delgrad.files.quantities import UNITS, QuantityError, format_quantity, parse_quantity

WHERE = "models/x.toml: neuron.tau_m"


def si(q):
    """The float SI value of a scalar quantity or number."""
    return float(np.asarray(q))


def raises(value, dimension=ms):
    """Parse ``value`` expecting a QuantityError; return its message, checked to start with WHERE."""
    with pytest.raises(QuantityError) as info:
        parse_quantity(value, dimension, WHERE)
    message = str(info.value)
    assert message.startswith(WHERE + ": ")
    return message


@pytest.mark.parametrize("text, expected", [
    ("5*ms", 5 * ms), ("0.5 * ms", 0.5 * ms), ("10 us", 10 * us), ("-2.5e-3*second", -2.5e-3 * second),
    ("  5.*ms\t", 5 * ms), (".5*ms", 0.5 * ms), ("+1E6 us", 1e6 * us), ("3e+2\t*  ms", 300 * ms),
    ("2 msecond", 2 * ms), ("7*ns", 7 * brian2.nsecond), ("7*nsecond", 7 * brian2.nsecond), ("4*usecond", 4 * us),
    ("1*second", 1 * second),
])
def test_valid_times_parse_to_the_right_quantity(text, expected):
    result = parse_quantity(text, ms, WHERE)
    assert isinstance(result, brian2.Quantity)
    assert have_same_dimensions(result, second)
    assert si(result) == si(expected)
    assert isinstance(np.asarray(result).item(), float)


@pytest.mark.parametrize("text, dimension, expected", [
    ("30*Hz", Hz, 30 * Hz), ("2.5 kHz", Hz, 2500 * Hz), ("-70*mV", volt, -70 * mV), ("3*uV", mV, 3e-6 * volt),
    ("1*nA", amp, 1 * nA), ("-4 pA", nA, -4e-12 * amp), ("100*Mohm", Mohm, 100 * Mohm), ("5*ohm", Mohm, 5 * Mohm / 1e6),
    ("200*pF", pF, 200 * pF), ("1*nF", pF, 1000 * pF), ("0.5*farad", pF, 0.5 * brian2.farad),
    ("10*nS", nS, 10 * nS), ("2*uS", nS, 2000 * nS), ("1*siemens", nS, 1 * brian2.siemens), ("1 volt", volt, 1 * volt),
    ("1 amp", amp, 1 * amp),
])
def test_valid_quantities_of_every_dimension(text, dimension, expected):
    result = parse_quantity(text, dimension, WHERE)
    assert have_same_dimensions(result, expected)
    assert si(result) == pytest.approx(si(expected), rel=1e-15)


def test_quantity_equals_brian2_product():
    assert parse_quantity("5*ms", ms, WHERE) == 5 * ms
    assert parse_quantity("0.1*ms", second, WHERE) == 0.1 * ms
    assert parse_quantity("30*Hz", Hz, WHERE) == 30 * Hz


@pytest.mark.parametrize("dimension", [None, DIMENSIONLESS, 1, brian2.Quantity(2.0)])
@pytest.mark.parametrize("value, expected", [
    (1, 1.0), (-3, -3.0), (1.5, 1.5), ("1.0", 1.0), (" -2.5e-3 ", -2.5e-3), ("5.", 5.0), (".5", 0.5), ("0", 0.0),
])
def test_dimensionless_numbers_are_floats(value, dimension, expected):
    result = parse_quantity(value, dimension, WHERE)
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize("value", [5, 5.0, "5", " 5.0 ", "-2.5e-3"])
def test_dimensioned_requirement_rejects_plain_number(value):
    message = raises(value, ms)
    assert "a unit is required" in message
    assert "a time" in message
    number = value.strip() if isinstance(value, str) else repr(value)
    assert f"write '{number}*ms'" in message


def test_plain_number_hint_uses_the_right_unit_for_each_dimension():
    assert "write '30*Hz'" in raises(30, Hz)
    assert "write '-70*mV'" in raises("-70", volt)
    assert "write '10*nS'" in raises(10, nS)


@pytest.mark.parametrize("text, got", [
    ("5*mV", "a voltage"), ("5*Hz", "a frequency"), ("5 nA", "a current"), ("5*pF", "a capacitance"),
    ("5*nS", "a conductance"), ("5*Mohm", "a resistance"),
])
def test_dimension_mismatch_names_both(text, got):
    message = raises(text, ms)
    assert f"expected a time such as '5*ms', got '{text}' ({got})" in message


def test_dimension_mismatch_exact_message():
    with pytest.raises(QuantityError) as info:
        parse_quantity("5*mV", ms, WHERE)
    assert str(info.value) == f"{WHERE}: expected a time such as '5*ms', got '5*mV' (a voltage)"


def test_voltage_required_but_time_given():
    message = raises("5*ms", mV)
    assert "expected a voltage such as '-70*mV'" in message
    assert "(a time)" in message


@pytest.mark.parametrize("dimension", [None, DIMENSIONLESS])
def test_dimensionless_requirement_rejects_units(dimension):
    message = raises("5*ms", dimension)
    assert "a plain number" in message
    assert "(a time)" in message


def test_unknown_unit_lists_allowed_units_of_the_dimension():
    message = raises("5*parsec", ms)
    assert "unknown unit 'parsec'" in message
    assert "allowed units for a time: second, ms, msecond, us, usecond, ns, nsecond" in message
    assert "mV" not in message
    message = raises("5 s", ms)  # 's' is deliberately not whitelisted
    assert "unknown unit 's'" in message and "second" in message
    message = raises("1*mvolt", volt)
    assert "allowed units for a voltage: volt, mV, uV" in message


def test_unknown_unit_for_dimensionless():
    message = raises("5*parsec", None)
    assert "unknown unit 'parsec'" in message
    assert "no unit is allowed" in message


MALFORMED = [
    "__import__('os').system('ls')", "5*ms*2", "5**2*ms", "(5)*ms", "ms", "", "   ", "5*", "1+1", "5ms", "5*ms**2",
    "5*ms/2", "5 * * ms", "0x10", "1_000*ms", "5,0*ms", "5*(ms)", "5*ms;", "e5*ms", "5e*ms", "--5*ms", "5 ms s",
    "\u0665*ms",  # an Arabic-Indic digit five: only ASCII digits are numbers
    "5\u00a0ms",  # a no-break space: only ASCII whitespace separates
    "1.0\n# comment",
]


@pytest.mark.parametrize("text", MALFORMED)
@pytest.mark.parametrize("dimension", [ms, None])
def test_malformed_strings_are_rejected(text, dimension):
    message = raises(text, dimension)
    assert f"not a number or quantity: {text!r}" in message
    assert "one unit name" in message  # the allowed form
    assert ("such as '5*ms'" if dimension is ms else "such as '1.5'") in message


@pytest.mark.parametrize("value", [True, False, [5, "ms"], {"value": 5, "unit": "ms"}, None, (5,), b"5*ms", 5j,
                                   np.int64(5), 5 * ms])
@pytest.mark.parametrize("dimension", [ms, None])
def test_non_string_non_number_values_are_rejected(value, dimension):
    message = raises(value, dimension)
    assert "not a number or quantity" in message
    assert f"(a {type(value).__name__})" in message


def test_booleans_rejected_although_bool_is_int():
    assert isinstance(True, int)
    assert "(a bool)" in raises(True, None)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "inf", "-inf", "nan", "NaN", "Infinity", "1e999",
                                   "-1e400", 10 ** 400])
@pytest.mark.parametrize("dimension", [None, ms])
def test_non_finite_values_are_rejected(value, dimension):
    assert "is not finite" in raises(value, dimension)


def test_overflow_in_si_units_is_rejected():
    assert "not finite in SI units" in raises("1e306*kHz", Hz)
    assert si(parse_quantity("1e306*Hz", Hz, WHERE)) == 1e306


def test_quantity_error_is_a_value_error():
    assert issubclass(QuantityError, ValueError)
    with pytest.raises(ValueError):
        parse_quantity("oops", ms, WHERE)


def test_long_values_are_shortened_in_messages():
    message = raises("x" * 10000, ms)
    assert len(message) < 500


def test_no_code_is_executed(tmp_path):
    target = tmp_path / "pwned_x"
    payloads = [
        f"__import__('os').system('touch {target}')",
        f"open({str(target)!r}, 'w')",
        f"5*ms if open({str(target)!r}, 'w') else 1",
        f"exec(\"open({str(target)!r}, 'w')\")",
        f"5*ms; __import__('pathlib').Path({str(target)!r}).touch()",
    ]
    for payload in payloads:
        for dimension in (ms, None):
            message = raises(payload, dimension)
            assert "not a number or quantity" in message
            assert not target.exists()
    assert not list(tmp_path.iterdir())


def test_source_uses_no_evaluation():
    tree = ast.parse(inspect.getsource(quantities))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr"}
    assert not attributes & {"eval", "exec", "literal_eval", "Expression"}
    assert "float" in called  # the walk does see calls


def test_whitelist():
    scales = {"second": 1.0, "ms": 1e-3, "msecond": 1e-3, "us": 1e-6, "usecond": 1e-6, "ns": 1e-9, "nsecond": 1e-9,
              "Hz": 1.0, "kHz": 1e3, "volt": 1.0, "mV": 1e-3, "uV": 1e-6, "amp": 1.0, "nA": 1e-9, "pA": 1e-12,
              "ohm": 1.0, "Mohm": 1e6, "farad": 1.0, "nF": 1e-9, "pF": 1e-12, "siemens": 1.0, "nS": 1e-9, "uS": 1e-6}
    assert list(UNITS) == list(scales)
    for name, unit in UNITS.items():
        assert isinstance(unit, brian2.Unit)
        assert si(unit) == scales[name]
    for name in ("second", "ms", "us", "ns"):
        assert have_same_dimensions(UNITS[name], second)
    assert have_same_dimensions(UNITS["kHz"], Hz) and have_same_dimensions(UNITS["uV"], volt)
    assert "s" not in UNITS and "parsec" not in UNITS


@pytest.mark.parametrize("q, text", [
    (5 * ms, "5.0*ms"), (0.25 * ms, "250.0*us"), (1 * second, "1.0*second"), (2500 * ms, "2.5*second"),
    (1e-9 * second, "1.0*ns"), (-70 * mV, "-70.0*mV"), (30 * Hz, "30.0*Hz"), (2.5 * kHz, "2.5*kHz"),
    (100 * Mohm, "100.0*Mohm"), (200 * pF, "200.0*pF"), (10 * nS, "10.0*nS"), (-3 * nA, "-3.0*nA"),
    (1e-15 * amp, "0.001*pA"), (5e6 * Hz, "5000.0*kHz"), (0 * ms, "0.0*second"),
])
def test_format_quantity_chooses_a_readable_unit(q, text):
    assert format_quantity(q) == text


@pytest.mark.parametrize("value, text", [(1.5, "1.5"), (2, "2.0"), (-2.5e-3, "-0.0025"), (1e300, "1e+300")])
def test_format_dimensionless(value, text):
    assert format_quantity(value) == text
    assert parse_quantity(text, None, WHERE) == value


AWKWARD = [0.1 * ms, 1 / 3 * ms, 5 * ms, 1e-9 * second, 0.3 * ms, 0.7 * ms, 1.1 * ms, 123.456 * us, 2.675 * nS,
           np.pi * ms, 1 / 7 * Hz, 0.1 * second / 3, 5e-324 * second, 1.7976931348623157e308 * Hz, -0.0 * ms,
           0.1 * mV, 1 / 3 * nA, 1 / 3 * pF, 0.2 * Mohm, 1e-20 * volt, 999.9999999999999 * ms]


@pytest.mark.parametrize("q", AWKWARD)
def test_format_round_trips_exactly(q):
    text = format_quantity(q)
    back = parse_quantity(text, q, WHERE)
    assert have_same_dimensions(back, q)
    assert si(back) == si(q)
    assert math.copysign(1, si(back)) == math.copysign(1, si(q))


def test_format_round_trips_many_random_values():
    rng = np.random.default_rng(1)
    for unit in (second, Hz, volt, amp, brian2.ohm, brian2.farad, brian2.siemens):
        for value in rng.standard_normal(300) * 10.0 ** rng.integers(-15, 10, 300):
            q = value * unit
            assert si(parse_quantity(format_quantity(q), unit, WHERE)) == si(q)


def test_format_falls_back_to_si_unit_when_needed():
    value = 0.0001835296665476359  # 183.5... us, but no float times 1e-6 gives exactly this value
    in_us = value / 1e-6
    assert all(x * 1e-6 != value for x in (in_us, math.nextafter(in_us, 0), math.nextafter(in_us, math.inf)))
    assert format_quantity(value * second) == "0.0001835296665476359*second"
    assert format_quantity(0.0001835296665476359 * second) != format_quantity(0.0001835296665476358 * second)


def test_format_uses_the_shortest_text_in_the_chosen_unit():
    assert format_quantity(1 / 3 * ms) == "333.3333333333333*us"
    assert format_quantity(0.1 * ms) == "100.00000000000001*us"  # 0.1*0.001 is not 100*1e-6 in floats
    assert format_quantity(123.456 * us) == "123.456*us"  # repr(123.456e-6 / 1e-6) is 123.45600000000002
    assert repr(si(123.456 * us) / 1e-6) == "123.45600000000002"
    assert format_quantity(1.1 * ms) == "1.1*ms"


@pytest.mark.parametrize("value", [True, np.array([1.0, 2.0]) * ms, math.inf * ms, math.nan, np.ones(2)])
def test_format_rejects_what_cannot_be_written(value):
    with pytest.raises(QuantityError):
        format_quantity(value)


def test_format_rejects_dimensions_without_unit():
    with pytest.raises(QuantityError, match="no allowed unit"):
        format_quantity(2 * brian2.meter)


def test_unsupported_dimension_messages():
    message = raises("5*ms", brian2.meter)
    assert "dimension m" in message
    assert "no allowed unit has dimension m" in raises(5, brian2.meter)
