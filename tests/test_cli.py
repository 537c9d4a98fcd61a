import re
import subprocess
import sys

import pytest

from brian2_delgrad.cli import main


def test_gradcheck_command_reports_every_placement(capsys, monkeypatch):
    import brian2_delgrad.gradcheck as gc

    real = gc.gradcheck_sweep
    monkeypatch.setattr(gc, "gradcheck_sweep", lambda **kw: real(hidden=((5,),), ratios=(2.0,), **kw))
    assert main(["gradcheck", "--batch", "3"]) == 0
    out = capsys.readouterr().out
    for placement in gc.CHECKED_PLACEMENTS:
        assert re.search(rf"^\s*{re.escape(placement)}\s+2\.0\s+4-5-3", out, re.M), out
    worst = float(re.search(r"largest relative difference (\S+)", out).group(1))
    assert worst <= 1e-6 and "OK" in out


def test_gradcheck_fails_when_the_tolerance_is_impossible(monkeypatch, capsys):
    import brian2_delgrad.gradcheck as gc

    real = gc.gradcheck_sweep
    monkeypatch.setattr(gc, "gradcheck_sweep",
                        lambda **kw: real(placements=("synaptic",), hidden=((5,),), ratios=(2.0,), **kw))
    assert main(["gradcheck", "--batch", "3", "--tolerance", "0"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_bad_arguments_exit_with_usage_error():
    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--batch", "0"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_console_entry_point_is_installed():
    result = subprocess.run([sys.executable, "-m", "brian2_delgrad", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "gradcheck" in result.stdout
