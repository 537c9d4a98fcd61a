"""Tests of the Yin-Yang data set and the time-to-first-spike encoding."""
import numpy as np
import pytest
from brian2 import mV, ms, second

from brian2_delgrad.datasets import YIN_YANG_SPLITS, encode_times, yin_yang, yin_yang_class, yin_yang_split

# Published regression values: first sample (to 5 decimals), its label, class counts.
EXPECTED = {
    "train": ([0.68031, 0.45050, 0.31969, 0.54950], 2, [1681, 1702, 1617]),
    "validation": ([0.68057, 0.32097, 0.31943, 0.67903], 0, [316, 336, 348]),
    "test": ([0.23410, 0.40172, 0.76590, 0.59828], 2, [350, 316, 334]),
}


@pytest.fixture(scope="module")
def splits():
    return {name: yin_yang_split(name) for name in YIN_YANG_SPLITS}


def test_split_table():
    assert YIN_YANG_SPLITS == {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_regression_values(splits, name):
    features, labels = splits[name]
    first, label, counts = EXPECTED[name]
    n_samples = YIN_YANG_SPLITS[name][0]
    assert features.shape == (n_samples, 4) and features.dtype == np.float64
    assert labels.shape == (n_samples,) and labels.dtype == np.int64
    np.testing.assert_array_equal(np.round(features[0], 5), first)
    assert labels[0] == label
    np.testing.assert_array_equal(np.bincount(labels, minlength=3), counts)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_points_are_consistent(splits, name):
    features, labels = splits[name]
    x, y = features[:, 0], features[:, 1]
    np.testing.assert_array_equal(features[:, 2:], 1 - features[:, :2])
    assert np.all((features >= 0) & (features <= 1))
    assert np.all(np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) <= 0.5)
    np.testing.assert_array_equal(yin_yang_class(x, y), labels)


def test_split_equals_direct_call(splits):
    features, labels = yin_yang(1000, 41)
    np.testing.assert_array_equal(features, splits["validation"][0])
    np.testing.assert_array_equal(labels, splits["validation"][1])


@pytest.mark.parametrize("n_samples, seed", [(5000, 42), (1000, 41), (1000, 40), (0, 3), (1, 3), (300, 2**32 - 1)])
def test_the_generator_is_the_published_rejection_sampler_call_by_call(n_samples, seed):
    """The generator reads the random stream in blocks; the published one draws call by call (below, as the
    module's description states it). Same numbers, bit for bit."""
    rng = np.random.RandomState(seed)
    points, labels = np.empty((n_samples, 2)), np.empty(n_samples, dtype=np.int64)
    for i in range(n_samples):
        labels[i] = rng.randint(3)
        while True:
            x, y = rng.rand(2)
            if np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) <= 0.5 and yin_yang_class(x, y) == labels[i]:
                break
        points[i] = x, y
    features, got = yin_yang(n_samples, seed)
    np.testing.assert_array_equal(features, np.hstack([points, 1 - points]))
    np.testing.assert_array_equal(got, labels)


def test_same_seed_same_data_other_seed_other_data():
    features, labels = yin_yang(200, 7)
    again_features, again_labels = yin_yang(200, 7)
    np.testing.assert_array_equal(features, again_features)
    np.testing.assert_array_equal(labels, again_labels)
    other_features, other_labels = yin_yang(200, 8)
    assert not np.array_equal(features, other_features)
    assert not np.array_equal(labels, other_labels)


def test_generator_is_sequential(splits):
    features, labels = yin_yang(10, 42)
    np.testing.assert_array_equal(features, splits["train"][0][:10])
    np.testing.assert_array_equal(labels, splits["train"][1][:10])


def test_zero_samples_gives_empty_arrays():
    features, labels = yin_yang(0, 42)
    assert features.shape == (0, 4) and features.dtype == np.float64
    assert labels.shape == (0,) and labels.dtype == np.int64


@pytest.mark.parametrize(
    "x, y, expected",
    [
        (0.75, 0.5, 2),  # centre of the right dot
        (0.25, 0.5, 2),  # centre of the left dot
        (0.78, 0.45, 2),  # inside the right dot, off centre
        (0.5, 0.9, 1),  # upper half, far from both dot centres
        (0.5, 0.1, 0),  # lower half, far from both dot centres
        (0.25, 0.7, 1),  # ring around the left dot (d_l = 0.2), upper half
        (0.25, 0.3, 1),  # ring around the left dot (d_l = 0.2), lower half
        (0.75, 0.7, 0),  # ring around the right dot (d_r = 0.2), upper half
        (0.75, 0.3, 0),  # ring around the right dot (d_r = 0.2), lower half
        (0.95, 0.5, 0),  # right edge, on the axis: d_r = 0.2
        (0.05, 0.5, 1),  # left edge, on the axis: d_l = 0.2
    ],
)
def test_class_of_hand_picked_points(x, y, expected):
    assert yin_yang_class(x, y) == expected


def test_class_is_vectorised():
    classes = yin_yang_class([[0.75], [0.4]], [0.5, 0.9, 0.1])
    assert classes.dtype == np.int64
    np.testing.assert_array_equal(classes, [[2, 1, 0], [1, 1, 0]])


def test_class_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match="x and y"):
        yin_yang_class([0.1, 0.2], [0.1, 0.2, 0.3])


def test_encode_times_with_quantity_and_seconds():
    features = np.array([[0.0, 1.0, 0.5]])
    times = encode_times(features, 5 * ms)
    assert times.shape == (1, 3) and times.dtype == np.float64
    np.testing.assert_allclose(times, [[0.75e-3, 10e-3, 0.15 * 5e-3 + 0.5 * 1.85 * 5e-3]], rtol=1e-12)
    np.testing.assert_array_equal(encode_times(features, 5e-3), times)
    np.testing.assert_allclose(encode_times(features, 5e-3, t_early=0.0, t_late=1.0), [[0.0, 5e-3, 2.5e-3]])


def test_encode_times_of_yin_yang_split(splits):
    features, _ = splits["test"]
    times = encode_times(features, 5 * ms)
    assert np.all((times >= 0.75e-3 - 1e-15) & (times <= 10e-3 + 1e-15))


@pytest.mark.parametrize("n_samples", [-1, 2.5, True, "5", None])
def test_bad_n_samples(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        yin_yang(n_samples, 42)


@pytest.mark.parametrize("seed", [1.5, None, "42", True, -1, 2**32])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        yin_yang(10, seed)


@pytest.mark.parametrize("split", ["training", "val", "", None])
def test_bad_split_lists_the_allowed_names(split):
    with pytest.raises(ValueError, match=r"split must be one of \['test', 'train', 'validation'\]"):
        yin_yang_split(split)


@pytest.mark.parametrize(
    "features",
    [
        [0.1, 0.2],  # 1-D
        [[[0.1]]],  # 3-D
        [[0.1, -0.01]],  # below 0
        [[0.1, 1.01]],  # above 1
        [[0.1, np.nan]],
        [[0.1, np.inf]],
        [["a", "b"]],
    ],
)
def test_bad_features(features):
    with pytest.raises(ValueError, match="features"):
        encode_times(features, 5 * ms)


@pytest.mark.parametrize("tau_s", [5 * mV, 0 * ms, -1 * ms, np.inf * second, np.nan, 0.0, "5 ms", [5e-3]])
def test_bad_tau_s(tau_s):
    with pytest.raises(ValueError, match="tau_s"):
        encode_times([[0.5]], tau_s)


@pytest.mark.parametrize(
    "t_early, t_late, name",
    [
        (-0.1, 2.0, "t_early"),
        (2.0, 2.0, "t_early"),
        (2.5, 2.0, "t_early"),
        (np.nan, 2.0, "t_early"),
        (0.15, np.inf, "t_late"),
        (0.15, "2", "t_late"),
    ],
)
def test_bad_encoding_window(t_early, t_late, name):
    with pytest.raises(ValueError, match=name):
        encode_times([[0.5]], 5 * ms, t_early=t_early, t_late=t_late)
