import numpy as np
import pytest

from brian2_delgrad.training.optim import Adam, delay_bounds, finite_or_zero, missing_spike_layer, step_decay


def test_adam_first_step_is_the_learning_rate_times_the_sign():
    p = np.array([1.0, -2.0, 0.5])
    Adam().step([p], [np.array([0.3, -4.0, 1e-3])], [0.01])
    np.testing.assert_allclose(p, [0.99, -1.99, 0.49], rtol=1e-6)


def test_adam_matches_the_textbook_recursion():
    rng = np.random.default_rng(0)
    p = rng.normal(size=5)
    q = p.copy()
    adam = Adam()
    m = v = np.zeros(5)
    for t in range(1, 6):
        g = rng.normal(size=5)
        adam.step([p], [g], [0.1])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = q - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p, q, rtol=1e-13)


def test_adam_rounds_as_the_numpy_expressions_bit_for_bit():
    """The compiled update makes one rounding per operation, in the order of the NumPy expressions."""
    rng = np.random.default_rng(3)
    p = rng.normal(size=(7, 4))
    q, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    adam = Adam()
    for t in range(1, 30):
        g = rng.normal(size=p.shape) * 10.0 ** rng.integers(-8, 3)
        adam.step([p], [g], [0.01])
        m *= 0.9
        m += (1 - 0.9) * g
        v *= 0.999
        v += (1 - 0.999) * g * g
        q -= 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        assert np.array_equal(p, q)


@pytest.mark.parametrize("parameter, gradient, match", [
    (np.ones((4, 3))[:, :2], np.ones((4, 2)), "parameter 1 must be a writeable C-contiguous float64"),
    (np.ones((3, 4)), np.ones((4, 3)), r"gradient 1 has shape \(4, 3\), its parameter \(3, 4\)"),
])
def test_adam_refuses_what_it_cannot_update_and_changes_nothing(parameter, gradient, match):
    adam = Adam()
    q = np.ones(2)
    with pytest.raises(ValueError, match=match):
        adam.step([q, parameter], [np.ones(2), gradient], [0.1, 0.1])
    assert adam.steps == 0 and adam.moments == [] and np.all(q == 1.0) and np.all(parameter == 1.0)


@pytest.mark.parametrize("method", ["sigmoid", "clip"])
def test_delay_bounds_round_trip_and_chain_rule(method):
    bounds = delay_bounds(method, 1e-3, 6e-3, 5e-3)
    delays = np.array([1.5e-3, 3e-3, 5.9e-3])
    free = bounds.to_free(delays)
    np.testing.assert_allclose(bounds.to_delays(free), delays, rtol=1e-12)
    h = 1e-6
    numeric = (bounds.to_delays(free + h) - bounds.to_delays(free - h)) / (2 * h)
    np.testing.assert_allclose(bounds.free_gradient(free, np.ones(3)), numeric, rtol=1e-6)


def test_delays_stay_in_range():
    for method in ("sigmoid", "clip"):
        bounds = delay_bounds(method, 0.0, 5e-3, 5e-3)
        free = bounds.to_free(np.array([1e-3, 4e-3]))
        free += np.array([-100.0, 100.0])
        bounds.project(free)
        delays = bounds.to_delays(free)
        assert np.all((delays >= 0) & (delays <= 5e-3))


@pytest.mark.parametrize("method, low, high", [("linear", 0, 1), ("clip", 2e-3, 1e-3), ("sigmoid", -1e-3, 1e-3)])
def test_bad_delay_bounds(method, low, high):
    with pytest.raises(ValueError, match="delay"):
        delay_bounds(method, low, high, 5e-3)


def test_step_decay():
    assert step_decay(0.01, 1, 0.95, 20) == 0.01
    assert step_decay(0.01, 20, 0.95, 20) == 0.01
    assert step_decay(0.01, 21, 0.95, 20) == pytest.approx(0.0095)
    assert step_decay(0.01, 300, 0.95, 20) == pytest.approx(0.01 * 0.95 ** 14)


def test_missing_spike_layer():
    ok = [np.zeros((10, 4)), np.ones((10, 5)), np.ones((10, 3))]
    assert missing_spike_layer(ok) is None
    hidden = [t.copy() for t in ok]
    hidden[1][:4, :] = np.inf                # 40 % of hidden spike times missing
    assert missing_spike_layer(hidden) == 1
    hidden[1][:4, :] = 1.0
    hidden[1][:3, :] = np.inf                # 30 %: tolerated
    assert missing_spike_layer(hidden) is None
    output = [t.copy() for t in ok]
    output[2][0, 0] = np.inf                 # a single missing output spike
    assert missing_spike_layer(output) == 2


def test_finite_or_zero_counts_and_cleans():
    a, b = np.array([1.0, np.nan, np.inf]), np.array([[-np.inf, 2.0]])
    assert finite_or_zero([a, b]) == 3
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a[0] == 1.0 and b[0, 1] == 2.0


def test_the_missing_spike_rule_warns_once_when_it_stalls_training():
    """Samples without any input spike can never make the network fire: every batch is skipped, the bump keeps
    doubling; after STALLED_BUMPS batches in a row the user is told, once per streak."""
    import warnings

    from brian2_delgrad import DelayNetwork, Trainer
    from brian2_delgrad.training.optim import STALLED_BUMPS

    net = DelayNetwork([2, 4, 3], delays="none", seed=0)
    X = np.tile([[1e-3, 2e-3], [np.inf, np.inf]], (STALLED_BUMPS + 2, 1))     # every other sample is silent
    y = np.zeros(len(X), dtype=int)
    trainer = Trainer(net, batch_size=2, progress=False, seed=0)
    with pytest.warns(RuntimeWarning, match=f"{STALLED_BUMPS} batches in a row skipped") as caught:
        history = trainer.fit(X, y, epochs=1)
    assert len([w for w in caught if "missing-spike" in str(w.message)]) == 1
    assert history.skipped.iloc[-1] == len(X) // 2
    quiet = Trainer(DelayNetwork([2, 4, 3], delays="none", seed=0), batch_size=2, progress=False, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        quiet.fit(X[:2 * (STALLED_BUMPS - 1)], y[:2 * (STALLED_BUMPS - 1)], epochs=1)   # one batch short: silent


def test_the_network_optimiser_takes_each_delay_gradient_by_its_placement_and_refuses_other_shapes():
    """Every parameter array moves by its own gradient, whatever order the network's delay dicts hold their
    placements in; a gradient of another shape (or a layer missing) is refused with nothing changed."""
    from brian2_delgrad import DelayNetwork
    from brian2_delgrad.exact.gradients import Gradients
    from brian2_delgrad.training.optim import NetworkOptimiser

    net = DelayNetwork([3, 3, 2], delays="axonal+dendritic", seed=1)
    net.delays = [dict(reversed(list(layer.items()))) for layer in net.delays]      # dendritic first
    optimiser = NetworkOptimiser(net, delay_bounds("clip", 0.0, 5e-3, 5e-3), 5e-4)
    before = [{p: d.copy() for p, d in layer.items()} for layer in net.delays]
    moving = [{p: np.zeros_like(layer[p]) for p in sorted(layer)} for layer in net.delays]   # axonal first
    moving[0]["axonal"][:] = 1.0                                                   # only the axonal delays of layer 0
    grads = Gradients(weights=[np.zeros_like(w) for w in net.weights], delays=moving, input_times=np.zeros((1, 3)))
    optimiser.step(grads, 0.01, 1e-3)
    assert np.all(net.delays[0]["axonal"] < before[0]["axonal"])
    for k, layer in enumerate(before):
        for p, d in layer.items():
            if (k, p) != (0, "axonal"):
                np.testing.assert_array_equal(net.delays[k][p], d)
    state = {key: [np.copy(a) for a in value] if key == "weights" else value for key, value in optimiser.state().items()}
    for bad in (Gradients(weights=[w[0] for w in grads.weights], delays=moving, input_times=grads.input_times),
                Gradients(weights=grads.weights, delays=moving[:1], input_times=grads.input_times)):
        with pytest.raises(ValueError):
            optimiser.step(bad, 0.01, 1e-3)
        assert all(np.array_equal(a, b) for a, b in zip(optimiser.state()["weights"], state["weights"]))
