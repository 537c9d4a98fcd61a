"""SymPy derivation of the PSP kernel and of threshold crossings from the model's Brian2 equations.

Nothing here is a hand-typed formula: the linear ODE system is read from the
model's :class:`~brian2.equations.equations.Equations`, solved symbolically for a
unit input (``on_pre``) by a matrix exponential, and every numerical function
is obtained by :func:`sympy.lambdify` of the result.

All functions work in dimensionless time, in units of ``tau_s`` (the synaptic
time constant); callers convert seconds at the boundary.

The membrane potential of a neuron whose inputs ``i`` (weights ``w_i``) arrive
at ``t_i`` is ``V(T) = sum_i w_i K(T - t_i)`` for ``t_i < T``. Because ``K`` is a
sum of exponentials (times a polynomial), ``V`` depends on the inputs only
through a few *statistics* ``S_j = sum_i w_i g_j(t_i)``; SymPy finds the
``g_j`` by splitting ``K(T - t)`` into factors of ``T`` and of ``t``. The first
threshold crossing of ``V`` then has a closed form for ``tau_m/tau_s = 1``
(Lambert W) and ``= 2`` (a quadratic in ``exp(-T/tau_m)``); for any other
ratio it is found by safeguarded Newton iteration on a bracket (see
:mod:`brian2_delgrad.substrates.exact`).
"""
import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

import numpy as np
import sympy as sp
from brian2.parsing.sympytools import str_to_sympy

from ..core.lif import LIFModel

__all__ = ["Kernel", "derive_kernel", "kernel_spec", "derive_expressions"]

#: Ratios tau_m/tau_s with a closed-form first crossing.
CLOSED_FORM_RATIOS = (1.0, 2.0)

_T = sp.Symbol("T", real=True)
_t = sp.Symbol("t", real=True)
_s = sp.Symbol("s", positive=True)
_theta = sp.Symbol("theta", positive=True)
_ratio = sp.Symbol("r", positive=True)


@dataclass(frozen=True)
class Kernel:
    """Numerical functions derived symbolically for one neuron model.

    Times are in units of ``tau_s``; statistics ``S`` are sequences of arrays
    that broadcast against each other and against ``T``.

    Attributes
    ----------
    ratio : float
        ``tau_m / tau_s``.
    theta : float
        The model's firing threshold (noisy substrates pass their own to
        ``crossing``).
    psp : callable
        ``psp(s)``: membrane response to a unit input ``s > 0`` after its arrival.
    dpsp : callable
        ``dpsp(s)``: time derivative of ``psp``.
    statistics : tuple of callable
        ``g_j(t)``; the statistics of a set of inputs are ``S_j = sum_i w_i g_j(t_i)``.
    membrane : callable
        ``membrane(T, S)``: ``V(T)`` from the statistics of the inputs before ``T``.
    slope : callable
        ``slope(T, S)``: ``dV/dT``.
    crossing : callable or None
        ``crossing(S, theta)``: closed-form time of the first upward crossing
        of the threshold ``theta`` (an array that broadcasts with ``S``; NaN
        where there is none); ``None`` if the ratio has no closed form.
    peak : callable
        ``peak(S)``: location of the single extremum of ``V`` (NaN if none).
    expressions : dict
        The SymPy expressions behind these functions (keys ``'psp'``,
        ``'statistics'``, ``'symbols'`` (the ``S0, S1, ...``), ``'membrane'``,
        ``'slope'``, ``'crossing'``, ``'peak'``) in the symbols ``s, t, T,
        theta, r`` (``r = tau_m/tau_s``), and the numbers ``'ratio'`` and
        ``'theta'``.
    """

    ratio: float
    theta: float
    psp: Callable
    dpsp: Callable
    statistics: tuple
    membrane: Callable
    slope: Callable
    crossing: Optional[Callable]
    peak: Callable
    expressions: dict = field(repr=False, compare=False)


def derive_kernel(model, closed_form=True):
    """Derive the kernel functions of ``model`` with SymPy (cached).

    Parameters
    ----------
    model : LIFModel
        Any model exposing ``equations``, ``namespace``, ``threshold`` and
        ``on_pre`` in the form of :class:`~brian2_delgrad.core.lif.LIFModel`.
    closed_form : bool
        Use the closed-form crossing where the ratio has one; ``False`` forces
        root finding (used to cross-check the closed forms).

    Returns
    -------
    Kernel
    """
    if type(model) is LIFModel:                 # immutable and hashed by its values: looked up once per model
        return _lif_kernel(model, closed_form)
    return _model_kernel(model, closed_form)


@functools.lru_cache(maxsize=64)
def _lif_kernel(model, closed_form):
    return _model_kernel(model, closed_form)


def _model_kernel(model, closed_form):
    return _bound(*kernel_spec(model, closed_form), model.theta)


def kernel_spec(model, closed_form=True):
    """What the kernel's formulas depend on: ``(equations, threshold, on_pre, exact_ratio, ratio)``.

    Text and numbers only (the SymPy derivation takes these); ``exact_ratio`` is the ratio where the crossing
    has a closed form and ``closed_form`` asks for it, else ``None``. The threshold's value is not among them:
    the formulas take it as an argument.
    """
    ratio = model.ratio
    exact_ratio = ratio if closed_form and ratio in CLOSED_FORM_RATIOS else None
    return str(model.equations), model.threshold, model.on_pre, exact_ratio, ratio


@functools.lru_cache(maxsize=64)
def _bound(equations, threshold, on_pre, exact_ratio, ratio, theta):
    return _bind(_derive(equations, threshold, on_pre, exact_ratio), ratio, theta)


def derive_expressions(spec):
    """The SymPy expressions of the kernel of ``spec`` (:func:`kernel_spec`), as :attr:`Kernel.expressions`
    without ``'theta'``."""
    equations, threshold, on_pre, exact_ratio, ratio = spec
    return dict(_derive(equations, threshold, on_pre, exact_ratio), ratio=ratio)


@functools.lru_cache(maxsize=None)
def _derive(equations, threshold, on_pre, exact_ratio):
    """Symbolic part of :func:`derive_kernel`; depends on the model's text only."""
    from brian2 import Equations

    eqs = Equations(equations)
    membrane_var, threshold_name = _parse_threshold(threshold)
    input_var = _parse_on_pre(on_pre)
    state = sorted(eqs.diff_eq_names)
    for var in (membrane_var, input_var):
        if var not in state:
            raise ValueError(f"the model's equations have no differential equation for {var!r}")
    rhs = [str_to_sympy(eqs[name].expr.code) for name in state]
    by_name = {sym.name: sym for expr in rhs for sym in expr.free_symbols}
    # Time constants in units of tau_s: tau_s (or the single tau) -> 1, tau_m -> r.
    units = {}
    for name, sym in by_name.items():
        if name in state:
            continue
        if name == "tau_m":
            units[sym] = _ratio if exact_ratio is None else sp.Rational(Fraction(exact_ratio))
        elif name in ("tau_s", "tau"):
            units[sym] = sp.Integer(1)
        else:
            raise ValueError(f"the model's equations refer to an unknown constant {name!r}")
    rhs = [expr.subs(units) for expr in rhs]
    state_syms = [by_name.get(name, sp.Symbol(name)) for name in state]
    matrix, inhomogeneous = sp.linear_eq_to_matrix(rhs, state_syms)
    if any(entry != 0 for entry in inhomogeneous):
        raise ValueError("the model's equations must be linear and homogeneous (rest at 0)")
    start = sp.Matrix([1 if name == input_var else 0 for name in state])
    psp = _tidy(((matrix * _s).exp() * start)[state.index(membrane_var)])

    # Split K(T - t) into statistics of the inputs (t) and coefficients (T).
    coefficients = {}
    for term in sp.Add.make_args(sp.expand(psp.subs(_s, _T - _t), power_exp=True)):
        coefficient, statistic = term.as_independent(_t, as_Add=False)
        coefficients[statistic] = coefficients.get(statistic, 0) + coefficient
    statistics = sorted(coefficients, key=sp.default_sort_key)
    stat_syms = sp.symbols(f"S0:{len(statistics)}", real=True)
    membrane = sum(_tidy(coefficients[g]) * S for g, S in zip(statistics, stat_syms))
    slope = sp.diff(membrane, _T)
    peak = _single_root(sp.solve(slope, _T), "extremum of the membrane")
    crossing = None if exact_ratio is None else _up_crossing(membrane, stat_syms, statistics, psp)
    return dict(psp=psp, statistics=tuple(statistics), symbols=stat_syms, membrane=membrane,
                slope=slope, peak=peak, crossing=crossing)


def _tidy(expr):
    """A sum of exponentials, each term with its exponents combined (``r*exp(-s/r)/(r - 1)``)."""
    return sp.Add(*[sp.powsimp(sp.factor_terms(term)) for term in sp.Add.make_args(sp.expand(expr))])


def _parse_threshold(threshold):
    match = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*>=?\s*([A-Za-z_]\w*)\s*", threshold)
    if match is None:
        raise ValueError(f"threshold must have the form 'v > theta', got {threshold!r}")
    return match.group(1), match.group(2)


def _parse_on_pre(on_pre):
    match = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*\+=\s*w\s*", on_pre)
    if match is None:
        raise ValueError(f"on_pre must have the form 'I += w', got {on_pre!r}")
    return match.group(1)


def _single_root(solutions, what):
    real = [sol for sol in solutions if not sol.has(sp.I)]
    if len(real) != 1:
        raise ValueError(f"SymPy found {len(real)} real solutions for the {what}; expected one")
    return real[0]


def _up_crossing(membrane, stat_syms, statistics, psp):
    """Closed-form first upward crossing ``V(T) = theta``, chosen among SymPy's roots."""
    exponentials = [e for e in membrane.atoms(sp.exp) if e.has(_T)]
    polynomial_in_T = membrane.subs({e: sp.Dummy() for e in exponentials}).has(_T)
    if polynomial_in_T:
        roots = sp.solve(sp.Eq(membrane, _theta), _T)
    else:
        # Every exponential is exp(-k T q) for integers k: a polynomial in z = exp(-q T).
        rates = [sp.Rational(-e.args[0] / _T) for e in exponentials]
        q = functools.reduce(sp.gcd, rates)
        z = sp.Symbol("z", positive=True)
        polynomial = sp.powsimp(sp.expand(membrane.subs(_T, -sp.log(z) / q), power_exp=True))
        roots = [-sp.log(root) / q for root in sp.solve(sp.Eq(polynomial, _theta), z)]
    # The up-crossing is the root with positive slope: check on a single input of
    # weight 3*theta/peak(K) at t = 0, which crosses threshold twice.
    s_peak = _single_root(sp.solve(sp.diff(psp, _s), _s), "peak of the PSP")
    weight = 3 / psp.subs(_s, s_peak)
    point = {S: weight * g.subs(_t, 0) for S, g in zip(stat_syms, statistics)}
    point[_theta] = 1
    good = []
    for root in roots:
        value = complex(root.subs(point).evalf(30))
        if abs(value.imag) < 1e-20 and float(sp.diff(membrane, _T).subs(point).subs(_T, value.real)) > 0:
            good.append(root)
    if len(good) != 1:
        raise ValueError(f"could not single out the upward threshold crossing among {roots}")
    return good[0]


def _bind(symbolic, ratio, theta):
    """Lambdify the symbolic kernel for numerical ``ratio`` and ``theta``."""
    values = {_ratio: ratio}
    stat_syms = symbolic["symbols"]

    def numeric(expr, *args):
        function = sp.lambdify(args, expr.subs(values), modules=["numpy", "scipy"])
        return function

    psp = numeric(symbolic["psp"], _s)
    dpsp = numeric(sp.diff(symbolic["psp"], _s), _s)
    statistics = tuple(_broadcasting(numeric(g, _t)) for g in symbolic["statistics"])
    membrane = numeric(symbolic["membrane"], _T, *stat_syms)
    slope = numeric(symbolic["slope"], _T, *stat_syms)
    peak = numeric(symbolic["peak"], *stat_syms)
    crossing = None
    if symbolic["crossing"] is not None:
        crossing = _real_part(numeric(symbolic["crossing"], *stat_syms, _theta))
    return Kernel(
        ratio=ratio,
        theta=theta,
        psp=_broadcasting(psp),
        dpsp=_broadcasting(dpsp),
        statistics=statistics,
        membrane=_quiet(lambda T, S: membrane(T, *S)),
        slope=_quiet(lambda T, S: slope(T, *S)),
        crossing=None if crossing is None else _quiet(lambda S, theta: crossing(*S, theta)),
        peak=_quiet(lambda S: peak(*S)),
        expressions=dict(symbolic, ratio=ratio, theta=theta),
    )


def _quiet(function):
    """Evaluate without floating-point warnings: NaN marks 'no solution' by design."""

    @functools.wraps(function)
    def wrapper(*args):
        with np.errstate(all="ignore"):
            return function(*args)

    return wrapper


def _broadcasting(function):
    """Make a lambdified function of one array return an array of the same shape."""

    @_quiet
    def wrapper(x):
        x = np.asarray(x, dtype=np.float64)
        return np.broadcast_to(function(x), x.shape)

    return wrapper


def _real_part(function):
    """Map complex results (e.g. of ``scipy.special.lambertw``) to real, NaN off the real branch."""

    def wrapper(*args):
        value = np.asarray(function(*args))
        if np.iscomplexobj(value):
            value = np.where(value.imag == 0, value.real, np.nan)
        return value

    return wrapper
