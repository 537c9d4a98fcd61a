"""Every error is ours (one line, exit 1, details in a file; a full disk named as such), damaged state is recovered
or refused in one line, one writer per output folder, bounded work."""
import errno
import subprocess
import sys

import pytest

import brian2_delgrad.storage as storage
from brian2_delgrad.cli import main


def test_an_unexpected_error_is_one_line_with_a_file_of_details(tmp_path, capsys, monkeypatch):
    import brian2_delgrad.plots as plots

    def broken(*args, **kwargs):
        raise RuntimeError("the figure cannot be drawn\nsecond line")

    monkeypatch.setattr(plots, "plot_training", broken)
    assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("brian2-delgrad: compiling")]
    assert len(lines) == 1 and lines[0].startswith("brian2-delgrad: error: RuntimeError: the figure cannot be drawn "
                                                   "(details in "), lines
    details = lines[0].rsplit("(details in ", 1)[1].rstrip(")")
    text = open(details).read()
    assert "Traceback" in text and "plot_training" in text and "second line" in text


def test_a_full_disk_is_named_as_such_and_earlier_files_stay(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["train", "yinyang_h5_ws", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = storage.os.fsync

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    assert main(["train", "yinyang_h5_ws", "--epochs", "2", "--out", str(out), "--quiet"]) == 1
    monkeypatch.setattr(storage.os, "fsync", real)
    line, = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("brian2-delgrad: error: disk full: no space left to write "), line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in before} == before     # nothing half-written
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]


def test_an_uncaught_error_leaves_no_brian2_debug_files(tmp_path):
    """In a subprocess (as a user runs it): Brian2's 'please report this issue' banner never appears."""
    code = ("import brian2_delgrad.plots as p\n"
            "def broken(*a, **k): raise RuntimeError('boom')\n"
            "p.plot_training = broken\n"
            "from brian2_delgrad.cli import main\n"
            f"raise SystemExit(main(['train', 'yinyang_h5_ws', '--epochs', '1', '--out', {str(tmp_path / 'o')!r}, "
            "'--quiet']))\n")
    environment = dict(__import__("os").environ, TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    assert done.returncode == 1 and "Brian 2" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("brian_")]
    assert leftovers == [], leftovers
