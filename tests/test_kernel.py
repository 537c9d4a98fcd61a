"""The SymPy-derived kernel: PSP against the ODE, closed forms against SymPy and the root finder."""
import numpy as np
import pytest
import sympy as sp
from brian2 import ms
from scipy.integrate import solve_ivp

from brian2_delgrad import LIFModel
from brian2_delgrad.exact.kernel import derive_kernel
from brian2_delgrad.exact.forward import layer_spike_times
from conftest import reference_psp


def test_psp_solves_the_model_equations(model):
    """Integrate dv/dt = -v/tau_m + I/tau_s, dI/dt = -I/tau_s from I(0)=1 numerically."""
    r = model.ratio
    kernel = derive_kernel(model)
    s = np.linspace(0.01, 12, 300)
    ode = solve_ivp(lambda t, y: [-y[0] / r + y[1], -y[1]], (0, 12), [0.0, 1.0], t_eval=s,
                    rtol=1e-12, atol=1e-14, method="DOP853")
    np.testing.assert_allclose(kernel.psp(s), ode.y[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kernel.psp(s), reference_psp(s, r), rtol=1e-13)
    h = 1e-6
    np.testing.assert_allclose(kernel.dpsp(s), (kernel.psp(s + h) - kernel.psp(s - h)) / (2 * h), rtol=1e-7,
                               atol=1e-9)


def test_kernel_is_derived_from_the_equations_not_typed():
    """A model with other equations gets another kernel: here a faster current decay."""

    class FastCurrent(LIFModel):
        @property
        def equations(self):
            from brian2 import Equations
            return Equations("dv/dt = -v/tau_m + I/tau_s : 1\ndI/dt = -2*I/tau_s : 1")

    model = FastCurrent(tau_m=10 * ms, tau_s=5 * ms)
    s = np.linspace(0.1, 8, 50)
    # v' = -v/2 + I, I = exp(-2 s)  =>  v = (2/3) (exp(-s/2) - exp(-2 s))
    np.testing.assert_allclose(derive_kernel(model, closed_form=False).psp(s),
                               2 / 3 * (np.exp(-s / 2) - np.exp(-2 * s)), rtol=1e-12)


def test_statistics_reproduce_the_membrane(model):
    """V(T) from the statistics equals the explicit sum of PSPs over the inputs."""
    kernel = derive_kernel(model)
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2, size=6)
    w = rng.normal(1, 1, size=6)
    T = np.linspace(2.01, 6, 20)
    S = [np.sum(w * g(t)) for g in kernel.statistics]
    explicit = (w[None] * reference_psp(T[:, None] - t[None], model.ratio)).sum(axis=1)
    np.testing.assert_allclose(kernel.membrane(T, S), explicit, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_closed_form_matches_sympys_own_solution(ratio):
    """Evaluate sympy.solve(V(T) = theta, T) at random statistics with 30 digits."""
    model = LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms, theta=1.3)
    kernel = derive_kernel(model)
    expressions = kernel.expressions
    T, theta = sp.Symbol("T", real=True), sp.Symbol("theta", positive=True)
    symbols = expressions["symbols"]
    solutions = sp.solve(sp.Eq(expressions["membrane"], theta), T)
    assert solutions, "SymPy found no solution"
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(40):
        t = rng.uniform(0, 1.5, size=3)
        w = rng.uniform(0.5, 2.5, size=3)
        S = [float(np.sum(w * g(t))) for g in kernel.statistics]
        ours = float(kernel.crossing(S, model.theta))
        point = {sym: value for sym, value in zip(symbols, S)}
        point[theta] = model.theta
        roots = []
        for solution in solutions:
            value = complex(solution.subs(point).evalf(30))
            slope = float(expressions["slope"].subs(point).subs(T, value.real)) if abs(value.imag) < 1e-25 else 0
            if abs(value.imag) < 1e-25 and slope > 0:
                roots.append(value.real)
        if not roots:
            assert np.isnan(ours)
            continue
        assert ours == pytest.approx(min(roots), rel=1e-12)
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_closed_forms_agree_with_the_root_finder(ratio):
    model = LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms)
    rng = np.random.default_rng(3)
    pre = rng.uniform(0, 2, size=(400, 12))
    pre[rng.random(pre.shape) < 0.1] = np.inf
    weights = rng.normal(0.3, 0.6, size=(12, 20))
    delays = rng.uniform(0, 1, size=(12, 20))
    closed = layer_spike_times(derive_kernel(model), pre, weights, delays)
    found = layer_spike_times(derive_kernel(model, closed_form=False), pre, weights, delays)
    assert np.array_equal(np.isfinite(closed), np.isfinite(found))
    spikes = np.isfinite(closed)
    assert 0.2 < spikes.mean() < 0.95
    np.testing.assert_allclose(found[spikes], closed[spikes], rtol=1e-12, atol=0)


def test_closed_form_used_only_for_ratios_one_and_two():
    assert derive_kernel(LIFModel(tau_m=10 * ms)).crossing is not None
    assert derive_kernel(LIFModel(tau_m=5 * ms)).crossing is not None
    assert derive_kernel(LIFModel(tau_m=7.5 * ms)).crossing is None
    assert "LambertW" in str(derive_kernel(LIFModel(tau_m=5 * ms)).expressions["crossing"])
