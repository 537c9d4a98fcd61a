"""Saved state: one atomic writer, one versioned archive layout; files written before it still work."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, Noise, Trainer
from brian2_delgrad.training.checkpoints import CheckpointError, load_checkpoint
from brian2_delgrad.datasets import encode_times, yin_yang_split
from brian2_delgrad.utils.storage import ARCHIVE_VERSION, ArchiveError, atomic_write, read_archive, write_archive

DATA = Path(__file__).parent / "data"


def _legacy_run():
    """The run that wrote tests/data/*_v1.npz with the code before the archive layout (commit ac9761b)."""
    features, labels = yin_yang_split("train")
    val_features, val_labels = yin_yang_split("validation")
    data = (encode_times(features[:150], 5 * ms), labels[:150])
    validation = (encode_times(val_features[:100], 5 * ms), val_labels[:100])
    net = DelayNetwork([4, 5, 3], delays="axonal+synaptic", delay_groups=[2, None], seed=3)
    trainer = Trainer(net, substrate=ExactSubstrate(noise=Noise(threshold_trial=0.02), seed=3, batch_size=50),
                      batch_size=50, seed=3, progress=False)
    return net, trainer, data, validation


#: The old files were written by the kernels of their time, which computed each exponential on its own; today's
#: share one per kernel function, so the same training gives the same numbers to a few ulp, not bit for bit.
ULPS = dict(rtol=1e-12, atol=1e-15)


def test_a_checkpoint_written_before_the_archive_layout_resumes_with_its_numbers(tmp_path):
    shutil.copy(DATA / "checkpoint_v1.npz", tmp_path / "old.npz")
    _, resumed, data, validation = _legacy_run()
    resumed.fit(*data, validation=validation, epochs=3, resume=tmp_path / "old.npz")
    _, straight, _, _ = _legacy_run()
    straight.fit(*data, validation=validation, epochs=3)
    for selection in ("last_parameters_", "best_parameters_"):
        a, b = getattr(resumed, selection), getattr(straight, selection)
        for x, y in zip(a["weights"] + [d for layer in a["delays"] for d in layer.values()],
                        b["weights"] + [d for layer in b["delays"] for d in layer.values()]):
            np.testing.assert_allclose(x, y, **ULPS)
    assert resumed.best_epoch_ == straight.best_epoch_
    pd.testing.assert_frame_equal(resumed.history_.drop(columns="wall_time"),
                                  straight.history_.drop(columns="wall_time"), check_exact=False, **ULPS)
    assert read_archive(tmp_path / "old.npz", "checkpoint")[0]["version"] == ARCHIVE_VERSION   # rewritten


def test_a_network_saved_before_the_archive_layout_loads_with_its_numbers():
    old = DelayNetwork.load(DATA / "network_v1.npz")
    net, trainer, data, validation = _legacy_run()
    trainer.fit(*data, validation=validation, epochs=2)          # same seeds, same numbers (to a few ulp)
    assert old.placements == net.placements and old.delay_groups[0].tolist() == [0, 0, 1, 1]
    for a, b in zip(old.weights + [d for layer in old.delays for d in layer.values()],
                    net.weights + [d for layer in net.delays for d in layer.values()]):
        np.testing.assert_allclose(a, b, **ULPS)


def test_archives_refuse_other_kinds_and_newer_versions_naming_them(tmp_path):
    net = DelayNetwork([4, 5, 3], seed=0)
    net.save(tmp_path / "net.npz")
    meta, arrays = read_archive(tmp_path / "net.npz", "network")
    assert meta["kind"] == "network" and meta["version"] == ARCHIVE_VERSION and meta["format"] == "brian2_delgrad"
    with pytest.raises(CheckpointError, match="is a network file, not a checkpoint file"):
        load_checkpoint(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="is a checkpoint file, not a network file"):
        DelayNetwork.load(DATA / "checkpoint_v1.npz")
    meta = {k: v for k, v in meta.items() if k not in ("format", "kind", "version")}
    write_archive(tmp_path / "newer.npz", "network", meta, arrays)
    with np.load(tmp_path / "newer.npz") as data:
        entries = dict(data)
    header = json.loads(entries["meta"].tobytes().decode())
    entries["meta"] = np.frombuffer(json.dumps(dict(header, version=ARCHIVE_VERSION + 1)).encode(), dtype=np.uint8)
    np.savez(tmp_path / "newer.npz", **entries)
    with pytest.raises(ArchiveError, match=f"layout version {ARCHIVE_VERSION + 1} is not one"):
        read_archive(tmp_path / "newer.npz", "network")
    with pytest.raises(ValueError, match="not a network written by DelayNetwork.save"):
        DelayNetwork.load(tmp_path / "newer.npz")


def test_an_interrupted_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "table.csv"
    atomic_write(path, lambda handle: handle.write("old\n"))

    def broken(handle):
        handle.write("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
