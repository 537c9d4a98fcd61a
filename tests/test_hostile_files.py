"""Model files are data: text that would run code in Brian2's or SymPy's parsers never reaches them, nothing
hangs, and every rejection is one line naming the file and the field."""
import contextlib
import os
import random
import signal
import string

import pytest

from brian2_delgrad import load_model_file
from brian2_delgrad.cli import main
from brian2_delgrad.files.toml import ConfigError
from brian2_delgrad.files.shipped import shipped_folder

MODEL = (shipped_folder("models") / "yinyang_h5_ws.toml").read_text()
LIF = "dv/dt = -v/tau_m + I/tau_s : 1\ndI/dt = -I/tau_s : 1\n"
assert f'equations = """\n{LIF}"""' in MODEL


@contextlib.contextmanager
def deadline(seconds):
    """Fail with ``TimeoutError`` instead of hanging (SIGALRM)."""
    def expired(*_):
        raise TimeoutError(f"took more than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def toml_string(text):
    """``text`` as a TOML basic string (every character kept, control characters escaped)."""
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)
    return f'"{escaped}"'


def with_equations(text):
    return MODEL.replace(f'"""\n{LIF}"""', toml_string(text))


ATTACKS = {
    "code in a string": 'dv/dt = -v/tau_m + I/tau_s + 0*exp(\'__import__("os").system("touch {marker}")\') : 1\n'
                        "dI/dt = -I/tau_s : 1",
    "power tower": "dv/dt = -v/tau_m + I/tau_s + 0*9**9**9 : 1\ndI/dt = -I/tau_s : 1",
    "builtin call": 'dv/dt = -v/tau_m + I/tau_s + 0*eval(open) : 1\ndI/dt = -I/tau_s : 1',
    "dunder name": "dv/dt = -v/tau_m + I/tau_s + 0*__builtins__ : 1\ndI/dt = -I/tau_s : 1",
    "lambda": "dv/dt = (lambda: 0)() : 1\ndI/dt = -I/tau_s : 1",
}


@pytest.mark.parametrize("case", sorted(ATTACKS))
@pytest.mark.parametrize("command", ["train", "study", "plot"])
def test_an_equation_that_would_run_code_or_hang_is_refused_in_one_line(tmp_path, capsys, case, command):
    marker = tmp_path / "F"
    model = tmp_path / "model.toml"
    model.write_text(with_equations(ATTACKS[case].format(marker=marker)))
    args = {"train": ["train", str(model), "--out", str(tmp_path / "out")],
            "study": ["study", str(tmp_path / "study.toml"), "--out", str(tmp_path / "out")],
            "plot": ["plot", str(model), str(tmp_path / "study.toml")]}[command]
    (tmp_path / "study.toml").write_text('[grid]\nmodels = ["model.toml"]\nseeds = [0]\n')
    with deadline(10):                                       # a power tower in SymPy would take for ever
        assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"brian2-delgrad: error: {model}: neuron.equations: "), lines
    assert not marker.exists() and not (tmp_path / "out").exists()


def assert_is_the_lif_model(text):
    """An accepted text has the LIF model's right-hand sides: checked at random points the reader never saw."""
    from brian2_delgrad.files.equation_text import evaluate, parse_equations

    got, lif = parse_equations(text), parse_equations(LIF)
    rng = random.Random(text)
    for _ in range(5):
        point = dict(v=rng.uniform(-5, 5), I=rng.uniform(-5, 5), tau_m=0.01, tau_s=0.005)
        for name in ("v", "I"):
            assert evaluate(got[name], point) == pytest.approx(evaluate(lif[name], point), rel=1e-9, abs=1e-9), text


def test_an_equation_that_agrees_with_the_model_at_a_few_points_only_is_refused(tmp_path):
    model = tmp_path / "model.toml"
    model.write_text(with_equations("dv/dt = -v/tau_m + I/tau_s + 1000*v*(v-1)*(v-0.7)*(I+1.3)/tau_s : 1\n"
                                    "dI/dt = -I/tau_s : 1"))
    with pytest.raises(ConfigError, match="neuron.equations: dv/dt = .* is not linear in v and I"):
        load_model_file(model)


def mutations(rng, count):
    """Random printable strings, and the LIF equations with characters inserted, deleted or replaced."""
    alphabet = string.printable + "αé\u00a0\u2028"
    pieces = ["**", "'", '"', "(", ")", "exp(", "__", "import", "lambda", ":", "=", "#", "\n", "1e999", "tau_m"]
    for k in range(count):
        if k % 3 == 0:
            yield "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
            continue
        text = list(LIF)
        for _ in range(rng.randrange(1, 6)):
            position = rng.randrange(len(text) + 1)
            action = rng.randrange(3)
            if action == 0:
                text.insert(position, rng.choice(pieces + list(alphabet)))
            elif action == 1 and position < len(text):
                del text[position]
            elif position < len(text):
                text[position] = rng.choice(alphabet)
        yield "".join(text)


def test_fuzzed_equations_are_accepted_or_refused_in_one_line_never_hang_never_act(tmp_path, monkeypatch):
    """2000 variants of the equations field: each is accepted (then it is the LIF model) or a one-line
    ConfigError naming the field; none takes more than a second; the working folder stays empty."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = tmp_path / "fuzz.toml"
    verdicts = {"accepted": 0, "refused": 0}
    for text in mutations(random.Random(2026), 2000):
        path.write_text(with_equations(text))
        with deadline(1):
            try:
                load_model_file(path)
                assert_is_the_lif_model(text)
                verdicts["accepted"] += 1
            except ConfigError as err:
                message = str(err)
                assert "\n" not in message and message.startswith(f"{path}: neuron.equations: "), (text, message)
                verdicts["refused"] += 1
    assert os.listdir(work) == []
    assert verdicts["accepted"] >= 10 and verdicts["refused"] >= 1500, verdicts    # both sides are reached
