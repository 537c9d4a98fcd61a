"""Hardware profiles: model-file checks, the weight grid with shadow weights, the profile's noise."""
import os

import numpy as np
import pytest

from brian2_delgrad import DelayNetwork, Trainer, load_model_file
from brian2_delgrad.files.toml import ConfigError
from brian2_delgrad.training.optim import quantize_weights
from brian2_delgrad.substrates.profiles import PROFILES, get_profile

MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
BSS2 = os.path.join(MODELS, "yinyang_bss2_wa.toml")


def test_brainscales2_profile_holds_the_published_numbers():
    profile = get_profile("brainscales2")
    assert profile.tau_ratio == 1 and profile.theta == 2.6 and profile.input_replicas == 5
    assert profile.weight_step * 63 == pytest.approx(2.1) and profile.weight_limit == 2.1
    noise = profile.noise(5e-3)
    assert noise.threshold_pattern == (0.13, 0.08) and noise.threshold_batch == 0.04 and noise.threshold_trial == 0
    assert noise.delay_jitter == pytest.approx(0.01 * 5e-3)
    assert PROFILES["ideal"].noise(5e-3).is_ideal


def test_quantize_weights_rounds_to_the_grid_after_clipping():
    w = np.array([0.0, 0.016, 0.017, -0.05, 2.2, -9.0])
    q = quantize_weights(w, step=1 / 30, limit=2.1)
    np.testing.assert_allclose(q, [0, 0, 1 / 30, -2 / 30, 2.1, -2.1], atol=1e-15)
    assert np.all(np.abs(np.round(q * 30) - q * 30) < 1e-9)
    assert quantize_weights(w) is not w and np.array_equal(quantize_weights(w), w)


def test_bss2_model_file_applies_the_profile():
    description = load_model_file(BSS2)
    assert description.profile.name == "brainscales2"
    inputs, labels = description.data("test")
    assert inputs.shape == (1000, 20)
    np.testing.assert_array_equal(inputs[:, 0], inputs[:, 4])         # feature 0 through 5 channels
    assert not np.array_equal(inputs[:, 4], inputs[:, 5])
    substrate = description.substrate(seed=3)
    assert substrate.noise.threshold_batch == 0.04 and substrate.noise.threshold_pattern == (0.13, 0.08)


PROFILE_ERRORS = {
    "placement": ('delays = "axonal"', 'delays = "synaptic"', "network.delays: profile 'brainscales2' has no synaptic"),
    "tau": ('tau_m = "5*ms"', 'tau_m = "10*ms"', "neuron.tau_m: profile 'brainscales2' needs tau_m = 1 tau_s"),
    "theta": ("\ntheta = 2.6", "\ntheta = 1.0", "neuron.theta: profile 'brainscales2' needs theta = 2.6"),
    "inputs": ("sizes = [20, 30, 3]", "sizes = [4, 30, 3]", "network.sizes: profile 'brainscales2' feeds"),
    "range": ('delay_range = ["10*ms", "17.5*ms"]', 'delay_range = ["0*ms", "17.5*ms"]',
              "network.delay_range: profile 'brainscales2' trains delays within (2, 3.5) tau_s"),
    "name": ('profile = "brainscales2"', 'profile = "loihi"', "profile: must be one of 'ideal', 'brainscales2'"),
    "untied": ("delay_groups = [5, 1]", "delay_groups = [1, 1]",
               "network.delay_groups: profile 'brainscales2' gives the 5 copies of an input one shared delay"),
    "groups": ("delay_groups = [5, 1]", "delay_groups = [3, 1]",
               "network.delay_groups: layer 0: 3 copies per group do not divide the 20 presynaptic neurons"),
}


@pytest.mark.parametrize("case", sorted(PROFILE_ERRORS))
def test_a_model_that_does_not_fit_its_profile_is_an_error_naming_the_field(tmp_path, case, capsys):
    from brian2_delgrad.cli import main

    old, new, message = PROFILE_ERRORS[case]
    text = open(BSS2).read()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as error:
        load_model_file(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value), str(error.value)
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def _small_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.15, 2.0, size=(n, 4)) * 5e-3
    y = (X[:, 0] > X[:, 1]).astype(int) + (X[:, 2] > 6e-3)
    return X, y


def test_trainer_keeps_weights_on_the_grid_and_steps_the_shadow_weights():
    X, y = _small_data()
    net = DelayNetwork((4, 10, 3), delays="axonal", weight_init=(1.0, 0.5), seed=1)
    trainer = Trainer(net, lr_weights=0.01, lr_delays=0.01, batch_size=50, weight_step=1 / 30, weight_limit=1.2,
                      keep_best=False, progress=False)
    trainer.fit(X, y, epochs=3)
    for realised, shadow in zip(net.weights, trainer._optimiser.weights):
        assert np.all(np.abs(realised * 30 - np.round(realised * 30)) < 1e-9)
        assert np.all(np.abs(shadow) <= 1.2)
        np.testing.assert_array_equal(realised, quantize_weights(shadow, 1 / 30))
        assert np.any(np.abs(shadow * 30 - np.round(shadow * 30)) > 1e-3)   # the floats are not on the grid


def test_tiny_steps_accumulate_in_the_shadow_weights_until_a_grid_step_flips():
    """With steps far below the grid spacing, a realised weight still moves eventually (no rounding trap)."""
    X, y = _small_data()
    net = DelayNetwork((4, 10, 3), delays="none", weight_init=(1.0, 0.5), seed=2)
    start = quantize_weights(net.weights[0], 1 / 30)
    trainer = Trainer(net, lr_weights=0.002, batch_size=50, weight_step=1 / 30, keep_best=False, progress=False)
    trainer.fit(X, y, epochs=4)
    assert np.any(net.weights[0] != start)


def test_resume_with_shadow_weights_is_bit_identical(tmp_path):
    X, y = _small_data()
    settings = dict(lr_weights=0.01, lr_delays=0.01, batch_size=50, weight_step=1 / 30, weight_limit=1.2,
                    keep_best=False, progress=False)
    full = DelayNetwork((4, 8, 3), delays="axonal", seed=4)
    Trainer(full, **settings).fit(X, y, epochs=4)
    part = DelayNetwork((4, 8, 3), delays="axonal", seed=4)
    Trainer(part, **settings).fit(X, y, epochs=2, checkpoint=tmp_path / "c.npz")
    again = DelayNetwork((4, 8, 3), delays="axonal", seed=4)
    resumed = Trainer(again, **settings)
    resumed.fit(X, y, epochs=4, resume=tmp_path / "c.npz")
    for a, b in zip(full.weights, again.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.delays[0]["axonal"], again.delays[0]["axonal"])


@pytest.mark.parametrize("name", ["weight_step", "weight_limit"])
def test_weight_grid_settings_must_be_positive(name):
    with pytest.raises(ValueError, match=name):
        Trainer(DelayNetwork((4, 5, 3)), **{name: 0.0})


def test_the_profile_accepts_any_labels_for_the_input_copies_and_nothing_else():
    profile = get_profile("brainscales2")
    fits = dict(tau_m=5e-3, tau_s=5e-3, theta=2.6, placements=[("axonal",), ("axonal",)],
                delay_range=(0.01, 0.0175), n_inputs=20, n_features=4)
    relabelled = (19 - np.arange(20)) // 5                        # inputs 15-19 are group 0, ...
    assert profile.problems(**fits, delay_groups=[relabelled, None]) == []
    for groups in (None, np.arange(20) % 4, np.arange(20) // 4):  # untied, mixed copies, split copies
        assert [key for key, _ in profile.problems(**fits, delay_groups=[groups, None])] == ["delay_groups"]
