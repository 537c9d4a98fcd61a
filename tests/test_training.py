import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, Noise
from brian2_delgrad.datasets import encode_times, yin_yang
from brian2_delgrad.training.losses import ShiftInvariantMSE, TTFSCrossEntropy
from brian2_delgrad.training.trainer import Trainer


@pytest.fixture(scope="module")
def data():
    X, y = yin_yang(1500, seed=42)
    Xv, yv = yin_yang(300, seed=41)
    return encode_times(X, 5 * ms), y, encode_times(Xv, 5 * ms), yv


def test_a_small_network_learns_yin_yang_quickly(data):
    X, y, Xv, yv = data
    net = DelayNetwork([4, 15, 3], delays="synaptic", seed=0)
    trainer = Trainer(net, lr_weights=0.02, lr_delays=0.01, batch_size=50, seed=0, progress=False)
    before = trainer.score(Xv, yv)
    history = trainer.fit(X, y, validation=(Xv, yv), epochs=6)
    after = trainer.score(Xv, yv)
    assert before < 0.5 and after > 0.75                    # chance is 1/3
    validation = history[history.split == "validation"]
    assert list(validation.epoch) == list(range(7))
    assert validation.accuracy.iloc[-1] == pytest.approx(after)
    assert validation.loss.iloc[-1] < validation.loss.iloc[0]


def test_weights_only_and_cross_entropy_also_learn(data):
    X, y, Xv, yv = data
    net = DelayNetwork([4, 15, 3], delays="none", weight_init=(0.5, 1.0), seed=1)
    trainer = Trainer(net, loss=TTFSCrossEntropy(), lr_weights=0.03, batch_size=50, seed=1, progress=False)
    trainer.fit(X, y, epochs=6)
    assert trainer.score(Xv, yv) > 0.65


def test_parameters_in_fortran_order_train_to_the_same_numbers(data):
    """Weights handed over in another memory order (e.g. transposed from another framework) train as usual."""
    X, y, _, _ = data
    results = []
    for order in ("C", "F"):
        net = DelayNetwork([4, 15, 3], delays="synaptic", seed=2)
        net.set_parameters(weights=[np.asarray(w, order=order) for w in net.weights],
                           delays=[{p: np.asarray(d, order=order) for p, d in layer.items()} for layer in net.delays])
        Trainer(net, batch_size=50, seed=2, progress=False).fit(X[:600], y[:600], epochs=2)
        results.append(net.weights + [d for layer in net.delays for d in layer.values()])
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_history_is_tidy(data):
    X, y, Xv, yv = data
    trainer = Trainer(DelayNetwork([4, 8, 3], seed=2), seed=2, progress=False)
    history = trainer.fit(X[:300], y[:300], validation=(Xv, yv), epochs=2)
    assert set(history.split) == {"train", "validation"}
    for column in ["epoch", "split", "loss", "accuracy", "silent_1", "silent_2", "skipped", "guarded",
                   "nonfinite", "lr_weights", "lr_delays", "wall_time"]:
        assert column in history.columns
    train = history[history.split == "train"]
    assert list(train.epoch) == [1, 2] and np.all(train.wall_time > 0)
    assert np.all((history.silent_1 >= 0) & (history.silent_1 <= 1))


def test_delays_stay_in_their_range_while_training(data):
    X, y, _, _ = data
    net = DelayNetwork([4, 10, 3], delays="axonal+dendritic", delay_range=(0 * ms, 2 * ms), seed=3)
    trainer = Trainer(net, lr_delays=0.5, delay_bounds="clip", delay_range=(0 * ms, 2 * ms), seed=3,
                      progress=False)
    trainer.fit(X[:600], y[:600], epochs=2)
    every = np.concatenate([d for layer in net.delays for d in layer.values()])
    assert np.all((every >= 0) & (every <= 2e-3)) and np.ptp(every) > 0


def test_missing_spike_rule_wakes_a_silent_network(data):
    X, y, _, _ = data
    net = DelayNetwork([4, 10, 3], delays="none", weight_init=(-1.0, 0.1), seed=4)   # all silent
    trainer = Trainer(net, bump=0.05, seed=4, progress=False)
    history = trainer.fit(X[:300], y[:300], epochs=3)
    assert history.skipped.iloc[0] > 0
    assert net.weights[0].mean() > -1.0                  # bumped upwards


@pytest.mark.parametrize("noise", [None, Noise(threshold_pattern=(0.0, 0.05), threshold_trial=0.03,
                                                delay_jitter=0.05 * ms),
                                   Noise(threshold_pattern=(0.0, 0.05), threshold_batch=0.05)])
def test_resume_gives_bit_identical_parameters(data, tmp_path, noise):
    X, y, Xv, yv = data

    def make():
        net = DelayNetwork([4, 10, 3], delays="synaptic", weight_init=(1.5, 1.0), seed=5)
        return Trainer(net, substrate=ExactSubstrate(noise=noise, seed=6), seed=5, progress=False)

    straight = make()
    straight.fit(X[:600], y[:600], validation=(Xv, yv), epochs=4)
    first = make()
    first.fit(X[:600], y[:600], validation=(Xv, yv), epochs=2, checkpoint=tmp_path / "run.ckpt")
    second = make()
    second.fit(X[:600], y[:600], validation=(Xv, yv), epochs=4, resume=tmp_path / "run.ckpt")
    for a, b in zip(straight.net.weights, second.net.weights):
        assert np.array_equal(a, b)
    for a, b in zip(straight.net.delays, second.net.delays):
        assert all(np.array_equal(a[p], b[p]) for p in a)
    assert second.history_.drop(columns="wall_time").equals(straight.history_.drop(columns="wall_time"))
    assert straight.history_.skipped.sum() < 4 * 4              # the run did take optimisation steps


def test_resume_refuses_another_network(data, tmp_path):
    X, y, _, _ = data
    Trainer(DelayNetwork([4, 10, 3], seed=0), progress=False).fit(X[:150], y[:150], epochs=1,
                                                                    checkpoint=tmp_path / "a.ckpt")
    with pytest.raises(ValueError, match="another network"):
        Trainer(DelayNetwork([4, 12, 3], seed=0), progress=False).fit(X[:150], y[:150], epochs=2,
                                                                        resume=tmp_path / "a.ckpt")
    tied = dict(delays="axonal", delay_groups=[2, None], seed=0)
    Trainer(DelayNetwork([4, 10, 3], **tied), progress=False).fit(X[:150], y[:150], epochs=1,
                                                                    checkpoint=tmp_path / "t.ckpt")
    other = DelayNetwork([4, 10, 3], delays="axonal", delay_groups=[[0, 1, 0, 1], None], seed=0)
    with pytest.raises(ValueError, match="another network"):           # same shapes, other groups
        Trainer(other, progress=False).fit(X[:150], y[:150], epochs=2, resume=tmp_path / "t.ckpt")
    resumed = Trainer(DelayNetwork([4, 10, 3], **tied), progress=False)
    resumed.fit(X[:150], y[:150], epochs=2, resume=tmp_path / "t.ckpt")
    assert resumed.epoch_ == 2 and resumed.net.delays[0]["axonal"].shape == (2,)
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        Trainer(DelayNetwork([4, 10, 3], seed=0), progress=False).fit(X[:150], y[:150], epochs=2,
                                                                        resume=tmp_path / "broken.ckpt")


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr_weights=-1), "lr_weights"), (dict(batch_size=0), "batch_size"), (dict(batch_size=1.5), "batch_size"),
    (dict(hidden_silence=2), "hidden_silence"), (dict(hidden_silence="a"), "hidden_silence"),
    (dict(delay_bounds="tanh"), "delay_bounds"), (dict(max_weight_gradient=-1), "max_weight_gradient"),
    (dict(delay_range=(0 * ms, 1 * ms)), "delay_range"),       # the network's delays lie up to tau_s
    (dict(lr_decay=1.5), "lr_decay"), (dict(keep_best="no"), "keep_best"), (dict(seed=-1), "seed"),
    (dict(seed="a"), "seed"), (dict(substrate="exact"), "substrate"), (dict(loss="mse"), "loss"),
    (dict(loss=TTFSCrossEntropy), "loss"),                      # the class, not a loss object
])
def test_bad_trainer_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Trainer(DelayNetwork([4, 5, 3]), **kwargs)


def test_selected_networks_are_the_last_and_the_best_epoch(data):
    X, y, Xv, yv = data
    trainer = Trainer(DelayNetwork([4, 10, 3], seed=2), keep_best=False, seed=2, progress=False)
    with pytest.raises(ValueError, match="not been fitted"):
        trainer.selected_networks()
    history = trainer.fit(X[:300], y[:300], validation=(Xv[:200], yv[:200]), epochs=4)
    chosen = trainer.selected_networks()
    validation = history[(history.split == "validation") & (history.epoch > 0)].set_index("epoch").accuracy
    assert chosen["last"][0] == 4 and chosen["best"][0] == max(e for e in validation.index
                                                                 if validation[e] == validation.max())
    for selection, (epoch, net) in chosen.items():
        assert Trainer(net, progress=False).score(Xv[:200], yv[:200]) == pytest.approx(validation[epoch], abs=1e-12)
    np.testing.assert_array_equal(chosen["last"][1].weights[0], trainer.net.weights[0])   # keep_best=False
    empty = Trainer(DelayNetwork([4, 10, 3], seed=2), progress=False)
    empty.fit(X[:150], y[:150], epochs=0)
    assert {s: e for s, (e, _) in empty.selected_networks().items()} == {"last": 0, "best": 0}


def test_trainer_needs_a_network():
    with pytest.raises(ValueError, match="net must be a DelayNetwork"):
        Trainer(None)


def test_resume_refuses_other_settings_and_fewer_epochs_and_changes_nothing(data, tmp_path):
    X, y, _, _ = data
    settings = dict(max_weight_gradient=np.float32(0.2), loss=ShiftInvariantMSE(margin=1), progress=False)
    Trainer(DelayNetwork([4, 10, 3], seed=0), **settings).fit(X[:150], y[:150], epochs=2,
                                                              checkpoint=tmp_path / "a.ckpt")
    with pytest.raises(ValueError, match=r"other settings \(batch_size, lr_weights\)"):
        Trainer(DelayNetwork([4, 10, 3], seed=0), lr_weights=0.5, batch_size=50, **settings).fit(
            X[:150], y[:150], epochs=3, resume=tmp_path / "a.ckpt")
    net = DelayNetwork([4, 10, 3], seed=0)
    trainer = Trainer(net, **settings)
    with pytest.raises(ValueError, match="holds 2 epochs, more than the 1 asked for"):
        trainer.fit(X[:150], y[:150], epochs=1, resume=tmp_path / "a.ckpt")
    assert trainer.epoch_ == 0
    np.testing.assert_array_equal(net.weights[0], DelayNetwork([4, 10, 3], seed=0).weights[0])
    # the same recipe given with other number types resumes
    same = dict(settings, max_weight_gradient=float(np.float32(0.2)), loss=ShiftInvariantMSE(margin=1.0))
    Trainer(DelayNetwork([4, 10, 3], seed=0), **same).fit(X[:150], y[:150], epochs=3, resume=tmp_path / "a.ckpt")


def test_bad_data_is_rejected(data):
    X, y, _, _ = data
    trainer = Trainer(DelayNetwork([4, 5, 3]), progress=False)
    with pytest.raises(ValueError, match="y must be integer labels"):
        trainer.fit(X[:10], y[:9], epochs=1)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\]"):
        trainer.fit(X[:10], np.full(10, 3), epochs=1)
    with pytest.raises(ValueError, match="X must have shape"):
        trainer.fit(X[:10, :3], y[:10], epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit(X[:10], y[:10], epochs=-1)
    for validation in (X[:10], (X[:10],)):
        with pytest.raises(ValueError, match=r"validation must be a pair \(X_val, y_val\)"):
            trainer.fit(X[:10], y[:10], validation=validation, epochs=1)
