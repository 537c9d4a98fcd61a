"""The exact substrate against an independent Brian2 simulation of the same network (dt = 1 us)."""
import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import DelayNetwork, ExactSubstrate, LIFModel
from brian2_reference import brian2_spike_times
from conftest import robust_decisions, yin_yang_like_inputs

DT = 1e-6


def on_grid(values):
    return np.round(values / DT) * DT


@pytest.mark.brian2
@pytest.mark.parametrize("ratio, placement, batch", [
    (2.0, "synaptic", 100), (1.0, "axonal+dendritic", 60), (1.5, "axonal+synaptic", 60),
])
def test_exact_spike_times_agree_with_brian2(ratio, placement, batch):
    model = LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms)
    net = DelayNetwork([4, 30, 3], delays=placement, model=model, weight_init=(1.2, 1.0), seed=7)
    # The same network for both simulators: delays and input times on the dt grid (Brian2 puts them there).
    net.set_parameters(delays=[{p: on_grid(d) for p, d in layer.items()} for layer in net.delays])
    inputs = on_grid(yin_yang_like_inputs(batch, seed=7))
    exact = ExactSubstrate().run(net, inputs)
    last = max(t[np.isfinite(t)].max() for t in exact[1:])
    simulated = brian2_spike_times(net, inputs, DT, duration=last + 10 * model.ratio * 5e-3)
    robust = robust_decisions(net, inputs)
    differences, clear_mismatch = [], 0
    for layer in (1, 2):
        a, b = exact[layer], simulated[layer]
        clear_mismatch += int((np.isfinite(a) != np.isfinite(b))[robust[layer]].sum())
        both = np.isfinite(a) & np.isfinite(b)
        differences.append(np.abs(b[both] - a[both]) / DT)
    differences = np.concatenate(differences)
    spikes = sum(np.isfinite(t).sum() for t in exact[1:])
    assert spikes > 0.5 * batch * 33 and differences.size >= 0.99 * spikes
    assert np.mean(differences <= 2) >= 0.995, np.sort(differences)[-10:]
    assert clear_mismatch == 0
