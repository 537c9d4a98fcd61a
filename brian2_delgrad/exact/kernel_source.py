"""The source text of one kernel's module: its SymPy-derived scalar functions, then the loops that call them.

Numba caches compiled code on disk only for functions defined in a file; the loops of
:mod:`~brian2_delgrad.exact.forward_kernel` and :mod:`~brian2_delgrad.exact.backward_kernel` call a kernel's
functions by name, so each kernel gets a module of its own (:mod:`~brian2_delgrad.exact.kernel_cache` writes
and imports it): first the kernel's functions, printed from the SymPy expressions of
:func:`~brian2_delgrad.exact.kernel.derive_kernel` (every float in full precision), then the source of every
function marked with :func:`~brian2_delgrad.exact.jit.jit`, each compiled with ``numba.njit(cache=True)``.
"""
import functools
import inspect
import textwrap
from fractions import Fraction

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from . import backward_kernel, epoch_kernel, forward_kernel, lambert, sort, step_kernel
from .jit import jit_options

__all__ = ["kernel_source", "LOOP_MODULES", "KERNEL_NAMES"]

#: The modules whose marked functions every kernel's module holds, in this order.
LOOP_MODULES = (lambert, sort, forward_kernel, backward_kernel, step_kernel, epoch_kernel)

#: The names the loops take from the kernel: its functions and constants.
KERNEL_NAMES = ("statistics_at", "membrane", "slope", "peak", "crossing", "membrane_at", "slope_at", "psp_and_slope",
                "CLOSED", "FIRST_G0", "FIRST_G1")

_HEADER = '''"""A brian2_delgrad kernel: {model}.

Written by brian2_delgrad {version} (brian2_delgrad.exact.kernel_source); numba caches its compiled code beside
it. Do not edit: a changed file is rebuilt.
"""
import math

import numba
import numpy as np
'''


class _Printer(PythonCodePrinter):
    """Python source of a SymPy expression: ``math.exp``, Lambert W as the marked ``lambert_w0``, and every float
    as Python's ``repr`` (SymPy's printer keeps 15 digits)."""

    def __init__(self):
        super().__init__(dict(fully_qualified_modules=True, inline=True, allow_unknown_functions=True,
                              user_functions={"LambertW": "lambert_w0"}))

    def _print_Float(self, expr):
        return repr(float(expr))


_PRINTER = _Printer()


def kernel_source(expressions, description):
    """The text of the module of the kernel whose SymPy ``expressions`` are given.

    Parameters
    ----------
    expressions : dict
        :attr:`Kernel.expressions <brian2_delgrad.exact.kernel.Kernel>` of a kernel with two input statistics.
    description : str
        One line for the module's docstring (the model it was derived from).

    Returns
    -------
    str
        Python source: the kernel's functions and constants (:data:`KERNEL_NAMES`), then every marked
        function of :data:`LOOP_MODULES` and the module constants they use.
    """
    from .. import __version__

    if not description.isprintable() or any(c in description for c in "\"\\"):
        raise ValueError(f"kernel source: the description must be one line without quotes, got {description!r}")
    s, t, T = sp.Symbol("s", positive=True), sp.Symbol("t", real=True), sp.Symbol("T", real=True)
    theta = sp.Symbol("theta", positive=True)
    values = {sp.Symbol("r", positive=True): _exact(expressions["ratio"])}
    S, H = expressions["symbols"], sp.symbols("H0:2", positive=True)
    g0, g1 = expressions["statistics"]
    membrane, slope, crossing = expressions["membrane"], expressions["slope"], expressions["crossing"]
    psp = expressions["psp"]
    statistics = [sp.sympify(g).subs(values) for g in (g0, g1)]
    rate = _shared_rate(statistics, t) or 0
    E = sp.Symbol("E")
    functions = [("statistics_at", (g0, g1), (t,), t),
                 ("statistics_from", tuple(_with_exponential(g, rate, t, E) for g in statistics), (t, E), None),
                 ("membrane", membrane, (T, *S), T),
                 ("slope", slope, (T, *S), T), ("peak", expressions["peak"], S, None),
                 ("crossing", crossing, (*S, theta), None),
                 ("membrane_at", _in_statistics(membrane, (g0, g1), H, t, T), (T, *S, *H), None),
                 ("slope_at", _in_statistics(slope, (g0, g1), H, t, T), (T, *S, *H), None),
                 ("psp_and_slope", (psp, sp.diff(psp, s)), (s,), s)]
    parts = [_HEADER.format(model=description, version=__version__)]
    for name, exprs, arguments, variable in functions:
        parts.append(f'@numba.njit(cache=True, error_model="numpy", inline="always")\n'
                     f'def {name}({", ".join(map(str, arguments))}):\n'
                     + _body(exprs, values, variable))
    constants = dict(CLOSED=crossing is not None, RATE=float(rate), FIRST_G0=float(g0.subs(values).subs(t, 0)),
                     FIRST_G1=float(g1.subs(values).subs(t, 0)))
    loops = [function for module in LOOP_MODULES for function in _marked(module)]
    for function in loops:
        for name, value in _module_constants(function, {f.__name__ for f in loops}).items():
            if constants.setdefault(name, value) != value:
                raise ValueError(f"kernel source: the loops' modules give {name} two values")
    parts.append("\n".join(f"{name} = {value!r}" for name, value in constants.items()) + "\n")
    for function in loops:
        parts.append(_njit_line(jit_options(function)) + _without_decorator(inspect.getsource(function)))
    return "\n\n".join(parts)


def _body(exprs, values, variable):
    """The indented body of a kernel function returning ``exprs`` (one expression or a tuple; ``None``: NaN, a
    crossing without closed form, never called), its exponentials of ``variable`` shared (:func:`_one_exponential`)
    and common subexpressions computed once."""
    if exprs is None:
        return "    return math.nan\n"
    single = not isinstance(exprs, tuple)
    exprs = [sp.sympify(e).subs(values) for e in ([exprs] if single else exprs)]
    lines = []
    if variable is not None:
        exprs, powers = _one_exponential(exprs, variable)
        lines += [f"{name} = {value}" for name, value in powers]
    steps, exprs = sp.cse(exprs, symbols=sp.numbered_symbols("x"), order="none")
    lines += [f"{symbol} = {_PRINTER.doprint(step)}" for symbol, step in steps]
    lines.append("return " + ", ".join(_PRINTER.doprint(e) for e in exprs))
    return "".join(f"    {line}\n" for line in lines)


def _one_exponential(exprs, x):
    """``exprs`` with their exponentials of ``x`` written as small powers of one, and the lines that compute them.

    Where there are several and every one is a power ``E**k`` of ``E = exp(q x)`` (:func:`_shared_rate`), each
    becomes a symbol ``E<k>`` with ``E1 = exp(q x)`` and ``E<k> = E<k-1> * E1``: one exponential where there
    were several (``exp(-s/2)`` and ``exp(-s)``: ``E1`` and ``E2``), the same value to a few ulp. Returns
    ``(exprs, [(name, source), ...])``; ``(exprs, [])`` unchanged where there is nothing to share.
    """
    q = _shared_rate(exprs, x)
    exponentials = {e for expr in exprs for e in expr.atoms(sp.exp) if e.has(x)}
    if q is None or len(exponentials) < 2:
        return exprs, []
    powers = {e: int(sp.simplify(e.args[0] / x) / q) for e in exponentials}
    lines = [("E1", _PRINTER.doprint(sp.exp(q * x)))] + [(f"E{k}", f"E{k - 1} * E1")
                                                          for k in range(2, max(powers.values()) + 1)]
    return [expr.xreplace({e: sp.Symbol(f"E{k}") for e, k in powers.items()}) for expr in exprs], lines


def _shared_rate(exprs, x):
    """The rate ``q`` of the one exponential ``exp(q x)`` of which every exponential of ``x`` in ``exprs`` is a
    power ``k`` from 1 to 8, or ``None`` (no exponential of ``x``, or rates that are not such multiples)."""
    rates = set()
    for e in set().union(*(expr.atoms(sp.exp) for expr in exprs)):
        rate = sp.simplify(e.args[0] / x)
        if not e.has(x) or not rate.is_Rational:
            return None
        rates.add(rate)
    if not rates:
        return None
    q = functools.reduce(sp.gcd, rates)
    q = -q if all(rate < 0 for rate in rates) else q
    return q if all((rate / q).is_Integer and 1 <= rate / q <= 8 for rate in rates) else None


def _with_exponential(expr, q, x, E):
    """``expr`` with each ``exp(k q x)`` written ``E**k`` (unchanged for ``q = 0``: no shared exponential)."""
    if q == 0:
        return expr
    return expr.xreplace({e: E ** int(sp.simplify(e.args[0] / x) / q) for e in expr.atoms(sp.exp) if e.has(x)})


def _exact(ratio):
    """``ratio`` as an exact SymPy rational where it is one with a small denominator (``1.5`` is ``3/2``), so that
    the rates of the exponentials are multiples of one (:func:`_one_exponential`); else as given."""
    fraction = Fraction(ratio).limit_denominator(64)
    return sp.Rational(fraction.numerator, fraction.denominator) if float(fraction) == ratio else ratio


def _in_statistics(expr, statistics, H, t, T):
    """``expr(T)`` with every ``exp(-k T)`` written ``H_j`` where ``g_j(t) = exp(k t)`` and ``H_j = 1 / g_j(T)``.

    The forward pass has ``g_j`` of the next arrival at hand (it needs them for the next causal set), so the
    membrane there costs a division and multiplications instead of exponentials. Unchanged where no statistic
    is a pure exponential.
    """
    for g, symbol in zip(statistics, H):
        if isinstance(g, sp.exp):
            expr = expr.subs(sp.exp(-g.args[0].subs(t, T)), symbol)
    return expr


def _marked(module):
    """The marked functions defined in ``module``, in the order of its source."""
    functions = [f for f in vars(module).values() if jit_options(f) is not None and f.__module__ == module.__name__]
    return sorted(functions, key=lambda f: f.__code__.co_firstlineno)


def _module_constants(function, compiled):
    """The numbers ``function`` takes from its module's globals (numba freezes them into the compiled code).

    Raises ``ValueError`` for any other global that is neither a module the header imports, a function of the
    kernel's module (``compiled``) nor a kernel name: the kernel's module would not run.
    """
    names, codes = set(), [function.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
    constants = {}
    for name in sorted(names):
        value = function.__globals__.get(name)
        if isinstance(value, (bool, int, float)):
            constants[name] = value
        elif not (value is None or name in compiled or name in KERNEL_NAMES or inspect.ismodule(value)):
            raise ValueError(f"kernel source: {function.__name__} uses {name!r}, which a kernel's module lacks")
    return constants


def _njit_line(options):
    return "@numba.njit(cache=True, " + ", ".join(f"{key}={value!r}" for key, value in options.items()) + ")\n"


def _without_decorator(source):
    """The source of a marked function without its ``@jit(...)`` line, at the module's indentation."""
    lines = textwrap.dedent(source).splitlines(keepends=True)
    if not lines[0].startswith("@jit("):
        raise ValueError(f"kernel source: a marked function must start with its @jit(...) line, got {lines[0]!r}")
    return "".join(lines[1:])
