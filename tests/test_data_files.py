"""Users' data: .npz (features or spike times), .csv and MNIST IDX files, through model files and the CLI."""
import gzip
import json
import os

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, ExactSubstrate, load_model_file
from brian2_delgrad.cli import main
from brian2_delgrad.datasets import encode_times, load_dataset, registry, stratified_split
from brian2_delgrad.training.losses import predict_labels

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "yinyang_h5_ws.toml")


def toy(n=400, seed=0):
    """4 features in [0, 1]; the label is the largest of the first three."""
    features = np.random.default_rng(seed).uniform(size=(n, 4))
    return features, features[:, :3].argmax(axis=1)


def model_for(tmp_path, data_line, extra=""):
    """The Yin-Yang model file on a data file of 4 features (mirrored, plus a reference: 9 inputs) or times."""
    text = open(MODEL).read().replace('dataset = "yin_yang"', f'dataset = "file"\n{data_line}{extra}')
    if "times" in extra:
        text = text.replace("t_early = 0.15\n", "").replace("t_late = 2.0\n", "")
    else:
        text = text.replace("sizes = [4, 5, 3]", "sizes = [9, 5, 3]")
    path = tmp_path / "model.toml"
    path.write_text(text)
    return str(path)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("form", ["features", "times", "csv"])
def test_a_data_file_trains_from_the_cli_and_is_tested_on_its_test_rows(tmp_path, capsys, form):
    features, labels = toy()
    split = np.array(["train"] * 240 + ["validation"] * 80 + ["test"] * 80)
    if form == "csv":
        lines = ["split,label,a,b,c,d"] + [f"{s},{y},{','.join(repr(float(v)) for v in f)}" for s, y, f in zip(split, labels, features)]
        (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
        path = model_for(tmp_path, 'path = "data.csv"')
    elif form == "times":
        times = encode_times(features, 5e-3, t_early=0.3)
        write_npz(tmp_path / "data.npz", times=times, labels=labels, split=split)
        path = model_for(tmp_path, 'path = "data.npz"', extra="\n# times")
    else:
        write_npz(tmp_path / "data.npz", features=features, labels=labels, split=split)
        path = model_for(tmp_path, 'path = "data.npz"')
    out = tmp_path / "out"
    assert main(["train", path, "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    printed = float(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("test accuracy: "))
    net = DelayNetwork.load(out / "parameters.npz")
    tested = features[split == "test"]
    if form == "times":
        inputs = encode_times(tested, 5e-3, t_early=0.3)
    else:                                            # by default a file's features are mirrored, plus a reference
        mirrored = np.hstack([tested, 1 - tested])
        inputs = np.hstack([5e-3 * (0.15 + 1.85 * mirrored), np.zeros((len(tested), 1))])
    accuracy = np.mean(predict_labels(ExactSubstrate().run(net, inputs)[-1]) == labels[split == "test"])
    assert printed == pytest.approx(accuracy, abs=5.1e-4) and 0 < accuracy <= 1          # printed to 3 digits
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)


def test_data_without_a_split_are_split_by_label_fractions_and_seed(tmp_path):
    features, labels = toy(500)
    write_npz(tmp_path / "data.npz", features=features, labels=labels)
    data = load_dataset(tmp_path / "data.npz", (0.5, 0.25, 0.25), seed=3)
    sizes = [len(data.load(name)[1]) for name in ("train", "validation", "test")]
    assert sum(sizes) == 500 and abs(sizes[0] - 250) <= 3
    again = load_dataset(tmp_path / "data.npz", (0.5, 0.25, 0.25), seed=3)
    np.testing.assert_array_equal(data.load("test")[0], again.load("test")[0])
    for name in ("train", "test"):
        counts = np.bincount(data.load(name)[1], minlength=3) / len(data.load(name)[1])
        np.testing.assert_allclose(counts, np.bincount(labels) / 500, atol=0.02)     # stratified
    assert not np.array_equal(stratified_split(labels, seed=1), stratified_split(labels, seed=2))


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files_as_downloaded(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, size=(100, 4, 4)), rng.integers(0, 256, size=(30, 4, 4))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(100) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(30) % 10)
    data = load_dataset(tmp_path, (0.8, 0.2, 0.0 + 1e-9))
    assert (data.n_features, data.n_classes) == (16, 10)
    values, labels = data.load("test")
    np.testing.assert_allclose(values, test.reshape(30, 16) / 255) and np.testing.assert_array_equal(labels,
                                                                                                   np.arange(30) % 10)
    assert len(data.load("train")[1]) == 80 and len(data.load("validation")[1]) == 20
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x1e" + bytes(29))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: holds 29 bytes of data, its header says 30"):
        load_dataset(tmp_path)


def _idx_folder(folder, n_train, n_test, seed=0):
    """A folder of MNIST-format files: n_train and n_test random 28x28 images, labels 0-9 in turn."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images = {"train": rng.integers(0, 256, size=(n_train, 28, 28)), "t10k": rng.integers(0, 256, size=(n_test, 28, 28))}
    for part, pixels in images.items():
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", pixels)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", np.arange(len(pixels)) % 10)
    return images


@pytest.fixture
def data_folders(tmp_path, monkeypatch):
    """Named data sets looked for in tmp_path/user (the environment variable) and tmp_path/system, read afresh."""
    monkeypatch.setenv(registry.DATA_FOLDER_VARIABLE, str(tmp_path / "user"))
    monkeypatch.setattr(registry, "SYSTEM_DATA_FOLDER", tmp_path / "system")
    registry._idx_splits.cache_clear()
    yield tmp_path
    registry._idx_splits.cache_clear()


@pytest.mark.parametrize("place", ["user", "system"])
def test_fashion_mnist_by_name_from_the_users_folder_or_the_systems(data_folders, place):
    images = _idx_folder(data_folders / place / "fashion-mnist", 200, 50)
    data = load_dataset("fashion_mnist")
    assert (data.n_features, data.n_classes) == (784, 10)
    assert [len(data.load(split)[1]) for split in ("train", "validation", "test")] == [150, 50, 50]
    values, labels = data.load("test")
    np.testing.assert_array_equal(values, images["t10k"].reshape(50, 784) / 255.0)
    assert np.bincount(data.load("train")[1]).tolist() == [15] * 10             # 3 : 1, stratified


def test_a_missing_data_set_says_where_it_looked_and_how_to_get_it(data_folders, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"'fashion_mnist': its IDX files are not in .*user/fashion-mnist or "
                                         r".*system/fashion-mnist; apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")
    model = os.path.join(os.path.dirname(__file__), "..", "models", "fashion_w.toml")
    assert main(["train", model, "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fashion_w.toml: data.dataset: " in err and "apt-get install dataset-fa" in err
    _idx_folder(data_folders / "user" / "fashion-mnist", 20, 10)
    (data_folders / "user" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: missing"):
        load_dataset("fashion_mnist").load("train")


@pytest.mark.skipif(not (registry.SYSTEM_DATA_FOLDER / "fashion-mnist").is_dir(),
                    reason="Debian's Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_the_real_fashion_mnist_trains_from_its_model_file(monkeypatch):
    """Debian's files: 45 000 / 15 000 / 10 000 images, every class a tenth; a few hundred of them train."""
    monkeypatch.delenv(registry.DATA_FOLDER_VARIABLE, raising=False)
    registry._idx_splits.cache_clear()
    spec = load_model_file(os.path.join(os.path.dirname(__file__), "..", "models", "fashion_w.toml"))
    data = load_dataset("fashion_mnist")
    assert [len(data.load(split)[1]) for split in ("train", "validation", "test")] == [45000, 15000, 10000]
    assert np.bincount(data.load("test")[1]).tolist() == [1000] * 10
    X, y = spec.data("train")
    assert X.shape == (45000, 784) and 0.3 < np.isinf(X).mean() < 0.7       # black pixels send no spike
    net, rows = spec.network(seed=0), slice(0, 300)
    history = spec.trainer(net, seed=0, progress=False).fit(X[rows], y[rows], epochs=3)
    train = history[history.split == "train"]
    assert train.loss.iloc[-1] < train.loss.iloc[0] and train.accuracy.iloc[-1] > 0.3


def _broken(tmp_path, case):
    features, labels = toy(60)
    split = np.array(["train"] * 40 + ["validation"] * 10 + ["test"] * 10)
    cases = {
        "missing labels": (dict(features=features), "data.npz: labels: missing"),
        "wrong shape": (dict(features=features[:, :, None], labels=labels), "data.npz: features: must be (samples, "
                                                                              "inputs), got shape (60, 4, 1)"),
        "NaN": (dict(features=np.where(features > 0.99, np.nan, features), labels=labels),
                "data.npz: features: contains NaN"),
        "outside [0, 1]": (dict(features=features * 2, labels=labels), "data.npz: features: must lie in [0, 1]"),
        "negative times": (dict(times=features - 0.5, labels=labels), "data.npz: times: must be >= 0 seconds"),
        "non-integer labels": (dict(features=features, labels=labels + 0.5), "data.npz: labels: must be integers"),
        "label only in test": (dict(features=features, labels=np.where(np.arange(60) == 55, 3, labels), split=split),
                               "data.npz: labels: label 3 is in the test split but never in train"),
        "empty split": (dict(features=features, labels=labels, split=np.where(split == "validation", "test", split)),
                        "data.npz: split: the validation split is empty"),
        "unknown split": (dict(features=features, labels=labels, split=np.where(split == "test", "tests", split)),
                          "data.npz: split: 'tests' is not one of"),
    }
    arrays, message = cases[case]
    write_npz(tmp_path / "data.npz", **arrays)
    return message


BROKEN = ["missing labels", "wrong shape", "NaN", "outside [0, 1]", "negative times", "non-integer labels",
          "label only in test", "empty split", "unknown split"]


@pytest.mark.parametrize("case", BROKEN)
def test_a_malformed_data_file_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, case):
    message = _broken(tmp_path, case)
    path = model_for(tmp_path, 'path = "data.npz"', extra="\n# times" if "times" in case else "")
    assert main(["train", path, "--epochs", "1", "--quiet", "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"brian2-delgrad: error: {path}: data.path: "), lines
    assert message in lines[0], lines[0]


def test_model_files_check_the_data_against_the_network(tmp_path):
    features, labels = toy()
    write_npz(tmp_path / "data.npz", features=np.hstack([features, features]), labels=labels)
    with pytest.raises(ValueError, match="network.sizes: .*8"):
        load_model_file(model_for(tmp_path, 'path = "data.npz"'))
    text = open(MODEL).read()
    (tmp_path / "y.toml").write_text(text.replace('dataset = "yin_yang"', 'dataset = "yin_yang"\nseed = 3'))
    with pytest.raises(ValueError, match="data.seed: 'yin_yang' has fixed splits"):
        load_model_file(tmp_path / "y.toml")
    write_npz(tmp_path / "data.npz", features=features, labels=labels)
    description = load_model_file(model_for(tmp_path, 'path = "data.npz"\npolarity = "large_early"\n'
                                                      'silent_zero = true'))
    inputs, _ = description.data("test")
    assert np.isfinite(inputs).all() and inputs.shape[1] == 9
    plain = model_for(tmp_path, 'path = "data.npz"\npolarity = "large_early"\nsilent_zero = true\nmirror = false\n'
                                'reference = false')
    with pytest.raises(ValueError, match=r"network.sizes: .*needs 4 neurons, not 9"):
        load_model_file(plain)
    (tmp_path / "plain.toml").write_text(open(plain).read().replace("sizes = [9, 5, 3]", "sizes = [4, 5, 3]"))
    np.testing.assert_array_equal(load_model_file(tmp_path / "plain.toml").data("test")[0], inputs[:, :4])
