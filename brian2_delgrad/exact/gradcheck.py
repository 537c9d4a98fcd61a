"""Check ``backward`` against central finite differences, per sample and parameter.

The loss of sample ``b`` is ``L_b = sum_k c_bk T_bk`` over its spiking output
neurons, with random coefficients ``c``; its derivative with respect to every
weight, delay and input time is estimated from central differences by
Ridders' extrapolation (:func:`ridders`) and compared with the analytic
gradient of that sample.

The largest step is reduced (by 5, up to three times) for the samples whose
finite differences straddle an event (the spike/no-spike pattern or the size
of any neuron's causal set differs between the evaluations) or whose
estimate has not converged (Ridders' error estimate above ``1e-9 |f| +
1e-12 s``, where ``s`` is the natural scale of the derivative: ``tau_s`` per
unit weight for weights, 1 for delays and input times). A (sample, parameter)
pair is *excluded* when no step gives a converged estimate without
straddling an event, or when the sample is *grazing*: one of its
spiking neurons crosses threshold with a normalised slope
``tau_s V'(T) / theta`` below ``min_slope`` (the gradient diverges as the
membrane grazes threshold). Exclusions are counted, never hidden.

The relative difference is ``|a - f| / max(|a|, |f|, floor * s)``: a
derivative smaller than ``floor`` (1e-5) of its natural scale, such as that
of an input arriving just before the spike, cannot be resolved to 1e-6
relative by float64 finite differences (their round-off is about 1e-13 s),
so it is held to an absolute tolerance instead; how many pairs that concerns
is reported in ``below_floor``.
"""
import itertools

import numpy as np
import pandas as pd

from ..core.delays import PLACEMENTS, placement_label
from .forward import forward
from .gradients import backward, membrane_slopes

__all__ = ["gradcheck", "ridders", "causal_counts", "normalised_slopes"]


def gradcheck(net, input_times, substrate=None, step=2e-2, min_slope=1e-2, floor=1e-5, seed=0, max_entries=None):
    """Largest relative difference between ``backward`` and finite differences.

    Parameters
    ----------
    net : DelayNetwork
        The network to check (not changed: the differences run on copies).
    input_times : array_like of float, shape (batch, n_in)
        Input spike times in seconds (``inf``: no spike).
    substrate : Substrate, optional
        The forward pass to differentiate (default: the noise-free exact one,
        :func:`~brian2_delgrad.exact.forward.forward`).
    step : float
        Largest finite-difference step: in weight units for weights, in units
        of ``tau_s`` for delays and input times.
    min_slope : float
        Samples with a spiking neuron whose ``tau_s V'(T)/theta`` is below
        this are excluded as grazing.
    floor : float
        Derivatives smaller than ``floor`` times their natural scale ``s``
        (``tau_s`` in seconds for weights, 1 for delays and input times) are
        compared in absolute terms (see below).
    seed : int
        Seed of the loss coefficients (and of the entries drawn with ``max_entries``).
    max_entries : int, optional
        Check at most this many entries of each parameter tensor, drawn at random without repetition (a wide
        layer has hundreds of thousands of weights, each needing a few dozen forward passes); default: all.

    Returns
    -------
    pandas.DataFrame
        One row per parameter tensor with columns ``parameter``
        (``'weights[0]'``, ``"delays[0]['synaptic']"``, ..., ``'input_times'``),
        ``compared`` (pairs compared), ``excluded`` (pairs excluded),
        ``nonzero`` (pairs with a nonzero gradient), ``below_floor`` (nonzero
        pairs smaller than ``floor * s``), ``entries`` (entries of the tensor checked)
        and ``max_rel_diff``, the largest ``|a - f| / max(|a|, |f|, floor * s)``.
    """
    run = forward if substrate is None else substrate.run
    input_times = np.asarray(input_times, dtype=np.float64)
    times = run(net, input_times)
    rng = np.random.default_rng(seed)
    coefficients = np.where(np.isfinite(times[-1]), rng.normal(size=times[-1].shape), 0.0)
    analytic = _per_sample_gradients(net, times, coefficients)
    grazing = (normalised_slopes(net, times) < min_slope).any(axis=1)
    base_events = _events(net, times)
    tau = net.model.tau_s_

    def evaluate(name, index, shift):
        candidate, inputs = net.copy(), input_times.copy()
        if name == "input_times":
            inputs[:, index[0]] += shift
        else:
            _tensor(candidate, name)[index] += shift
        shifted = run(candidate, inputs)
        loss = (coefficients * np.where(coefficients != 0, shifted[-1], 0.0)).sum(axis=1)
        return loss, (_events(candidate, shifted) == base_events).all(axis=1)

    converged = 1e-9
    rows = []
    for name, per_sample in analytic.items():
        h = step if name.startswith("weights") else step * tau
        natural = tau if name.startswith("weights") else 1.0     # the derivative's natural scale
        pairs, excluded = [], 0
        indices = list(np.ndindex(per_sample.shape[1:]))
        if max_entries is not None and len(indices) > max_entries:
            indices = [indices[k] for k in np.sort(rng.choice(len(indices), max_entries, replace=False))]
        for index in indices:
            estimate = np.full(len(grazing), np.nan)
            accepted = np.zeros(len(grazing), bool)
            for shrink in range(4):        # smaller steps where events moved or the estimate is uncertain
                guess, error, unchanged = ridders(lambda shift: evaluate(name, index, shift), h / 5 ** shrink)
                # The largest step with a converged estimate wins (least round-off).
                take = unchanged & ~accepted & (error <= converged * (np.abs(guess) + 1e-3 * natural))
                estimate = np.where(take, guess, estimate)
                accepted |= take
                if accepted.all():
                    break
            keep = accepted & ~grazing
            excluded += int((~keep).sum())
            pairs.append(np.stack([per_sample[(slice(None),) + index][keep], estimate[keep]]))
        a, f = np.concatenate(pairs, axis=1)
        scale = np.maximum(np.abs(a), np.abs(f))
        relative = np.abs(a - f) / np.maximum(scale, floor * natural)
        rows.append(dict(parameter=name, compared=a.size, excluded=excluded, nonzero=int((scale > 0).sum()),
                         below_floor=int(((scale > 0) & (scale < floor * natural)).sum()), entries=len(indices),
                         max_rel_diff=float(relative.max(initial=0.0))))
    return pd.DataFrame(rows)


def ridders(evaluate, step, levels=8, shrink=1.4):
    """Derivative by Ridders' extrapolation of central differences, vectorised over samples.

    Central differences with steps ``step, step/shrink, ...`` are extrapolated
    to zero step (a Neville tableau in ``h**2``); the estimate with the
    smallest internal error estimate is kept, and refinement stops for a sample
    once the error grows again (round-off takes over).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(shift) -> (values, unchanged)``: the function of every sample
        at the parameter shifted by ``shift`` (shape (batch,)), and whether
        the sample's event structure is unchanged there (bool, (batch,)).
    step : float
        The largest step.

    Returns
    -------
    estimate, error : ndarray, shape (batch,)
        Derivative and its error estimate.
    unchanged : ndarray of bool, shape (batch,)
        False where any evaluation changed the sample's event structure.
    """
    previous = None
    estimate = error = unchanged = active = None
    for level in range(levels):
        h = step / shrink ** level
        (plus, same_plus), (minus, same_minus) = evaluate(h), evaluate(-h)
        with np.errstate(invalid="ignore"):   # inf - inf where a spike vanished
            row = [(plus - minus) / (2 * h)]
        if previous is None:
            estimate, error = row[0], np.full(row[0].shape, np.inf)
            unchanged, active = same_plus & same_minus, np.ones(row[0].shape, bool)
        unchanged &= same_plus & same_minus
        factor = shrink ** 2
        for j in range(1, level + 1):
            with np.errstate(invalid="ignore"):
                row.append((row[j - 1] * factor - previous[j - 1]) / (factor - 1))
                err = np.maximum(np.abs(row[j] - row[j - 1]), np.abs(row[j] - previous[j - 1]))
            factor *= shrink ** 2
            better = active & (err <= error)
            error = np.where(better, err, error)
            estimate = np.where(better, row[j], estimate)
        if previous is not None:
            active &= np.abs(row[level] - previous[level - 1]) < 2 * error
        previous = row
        if not active.any():
            break
    return estimate, error, unchanged


def _tensor(net, name):
    """The array behind a parameter name such as ``"weights[0]"`` or ``"delays[1]['axonal']"``."""
    kind, layer = name.split("[")[0], int(name.split("[")[1].split("]")[0])
    if kind == "weights":
        return net.weights[layer]
    return net.delays[layer][name.split("'")[1]]


def _per_sample_gradients(net, times, coefficients):
    """Analytic gradient of every sample's loss: parameter name -> array (batch, *shape)."""
    per_sample = [backward(net, [t[b:b + 1] for t in times], coefficients[b:b + 1])
                  for b in range(times[0].shape[0])]
    result = {}
    for layer in range(len(net.weights)):
        result[f"weights[{layer}]"] = np.stack([g.weights[layer] for g in per_sample])
        for placement in net.placements[layer]:
            result[f"delays[{layer}][{placement!r}]"] = np.stack([g.delays[layer][placement] for g in per_sample])
    result["input_times"] = np.concatenate([g.input_times for g in per_sample])[:, :, None]
    return result


def causal_counts(net, times):
    """Number of inputs (existing synapses) that arrived before each neuron's spike (-1 if it did not spike).

    Parameters
    ----------
    net : DelayNetwork
    times : list of ndarray
        Spike times of every layer (seconds), as returned by a substrate.

    Returns
    -------
    list of ndarray
        One ``(batch, n_post)`` int array per connection layer.
    """
    counts = []
    for layer in range(len(net.weights)):
        arrivals = times[layer][:, :, None] + net.total_delays(layer)[None]
        post = times[layer + 1]
        with np.errstate(invalid="ignore"):
            count = ((arrivals < post[:, None, :]) & net.connectivity[layer][None]).sum(axis=1)
        counts.append(np.where(np.isfinite(post), count, -1))
    return counts


def normalised_slopes(net, times):
    """``tau_s V'(T) / theta`` of every neuron (``inf`` if silent), shape (batch, n_neurons)."""
    return np.concatenate(membrane_slopes(net, times), axis=1) / net.model.theta


def _events(net, times):
    """Causal-set size of every neuron (its event structure), shape (batch, n_neurons)."""
    return np.concatenate(causal_counts(net, times), axis=1)


#: The placements that ``brian2-delgrad gradcheck`` checks: none, and every placement and combination.
CHECKED_PLACEMENTS = ("none",) + tuple(placement_label(c) for n in range(1, len(PLACEMENTS) + 1)
                                       for c in itertools.combinations(PLACEMENTS, n))


def gradcheck_sweep(placements=CHECKED_PLACEMENTS, ratios=(1.0, 2.0, 1.5), hidden=((10,), (8, 6)),
                    batch=16, seed=0, progress=False):
    """Run :func:`gradcheck` on random networks of every placement, ``tau_m/tau_s`` and depth.

    Parameters
    ----------
    placements : sequence of str
    ratios : sequence of float
        ``tau_m / tau_s`` (``tau_s`` = 5 ms).
    hidden : sequence of tuple of int
        Hidden layer sizes of the networks ``[4, *hidden, 3]``.
    batch : int
        Yin-Yang-like random inputs per network, uniform in ``(0.15, 2) tau_s``.
    seed : int
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`gradcheck` with the columns ``placement``,
        ``ratio`` and ``sizes`` added, and ``sum_rule``: the largest
        ``|sum_i dT/dt~_i - 1|`` over the spiking neurons of the network.
    """
    from brian2 import ms
    from tqdm.auto import tqdm

    from ..core.lif import LIFModel
    from ..core.network import DelayNetwork
    from .gradients import spike_time_derivatives

    configs = [(p, r, h) for p in placements for r in ratios for h in hidden]
    tables = []
    for k, (placement, ratio, sizes) in enumerate(tqdm(configs, disable=not progress, desc="gradcheck")):
        net = DelayNetwork([4, *sizes, 3], delays=placement, model=LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms),
                           weight_init=(1.5, 1.0), seed=seed + k)
        inputs = np.random.default_rng(seed + k).uniform(0.15, 2.0, size=(batch, 4)) * 5e-3
        table = gradcheck(net, inputs, seed=seed + k)
        times = forward(net, inputs)
        sums = [spike_time_derivatives(net, times, layer)[1].sum(axis=1)[np.isfinite(times[layer + 1])]
                for layer in range(len(net.weights))]
        table.insert(0, "sizes", "-".join(map(str, net.sizes)))
        table.insert(0, "ratio", ratio)
        table.insert(0, "placement", placement)
        table["sum_rule"] = max(float(np.abs(s - 1).max(initial=0.0)) for s in sums)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
