import re
import subprocess
import sys

import pytest

from brian2_delgrad.cli import main


def test_gradcheck_command_reports_every_placement(capsys, monkeypatch):
    import brian2_delgrad.exact.gradcheck as gc

    real = gc.gradcheck_sweep
    monkeypatch.setattr(gc, "gradcheck_sweep", lambda **kw: real(hidden=((5,),), ratios=(2.0,), **kw))
    assert main(["gradcheck", "--batch", "3"]) == 0
    out = capsys.readouterr().out
    for placement in gc.CHECKED_PLACEMENTS:
        assert re.search(rf"^\s*{re.escape(placement)}\s+2\.0\s+4-5-3", out, re.M), out
    worst = float(re.search(r"largest relative difference (\S+)", out).group(1))
    assert worst <= 1e-6 and "OK" in out


def test_gradcheck_fails_when_the_tolerance_is_impossible(monkeypatch, capsys):
    import brian2_delgrad.exact.gradcheck as gc

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


def test_plot_draws_a_trained_network(tmp_path, capsys):
    import os

    root = os.path.join(os.path.dirname(__file__), "..")
    model = os.path.join(root, "models", "yinyang_h30_ws.toml")
    trained = os.path.join(os.path.dirname(__file__), "data", "yinyang_h30_ws_trained.npz")
    assert main(["plot", model, trained, "--out", str(tmp_path), "--sample", "3"]) == 0
    for name in ("raster.png", "delays.png", "decision_map.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert main(["plot", os.path.join(root, "models", "yinyang_h30_w.toml"), trained, "--out", str(tmp_path)]) == 2
    assert "not one of" in capsys.readouterr().err


def test_plot_draws_the_first_layer_of_an_image_network_as_images(tmp_path, capsys):
    from brian2_delgrad.files.modelfile import load_model_file

    load_model_file("digits_wa").network(seed=1).save(tmp_path / "net.npz")
    assert main(["plot", "digits_wa", str(tmp_path / "net.npz")]) == 0
    for name in ("raster.png", "delays.png", "receptive_fields.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert "receptive_fields.png" in capsys.readouterr().out


def test_the_package_loads_its_parts_when_they_are_used():
    """``import brian2_delgrad`` is light (the CLI answers at once); public names and submodules load on use."""
    code = ("import sys, brian2_delgrad as b; assert 'brian2' not in sys.modules; "
            "assert b.datasets.load_dataset and b.DelayNetwork.__name__ == 'DelayNetwork'; "
            "assert 'brian2' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
