"""Reading a user's Brian2 network into a :class:`~brian2_delgrad.core.network.DelayNetwork` (:func:`from_brian2`).

What can be read, and nothing else (anything else is a ``ValueError`` naming the Brian2 object and what differs):

* a feed-forward chain: one input group (a ``SpikeGeneratorGroup`` or a
  ``NeuronGroup``), one ``NeuronGroup`` per layer, one ``Synapses`` from each
  group to the next (no recurrent or layer-skipping synapses, no subgroups,
  at most one synapse per pair of neurons); monitors are ignored;
* every layer the LIF model with exponential current synapses, not compared
  as text: the group's constants substituted (SymPy), the right-hand sides are
  checked by :func:`~brian2_delgrad.core.lif.lif_time_constants` (as a model
  file's equations are): differential equations of ``v`` and
  ``I`` (dimensionless) that are ``dv/dt = -v/tau_m + I/tau_s`` and
  ``dI/dt = -I/tau_s`` for some ``tau_m``, ``tau_s`` (written in any
  equivalent form, with constants from the group's namespace, its
  per-neuron parameters -- equal for all neurons --, the ``namespace``
  given, or the caller's variables, as Brian2 resolves them; nothing that
  changes during a run: no ``t``, noise, summed variables or
  ``run_regularly``; units as Brian2 checks them), threshold ``v > theta``
  (with or without ``and not fired``); the same model in every layer. Resets and refractoriness are ignored (each neuron's first spike is
  all that counts);
* synapses with a dimensionless ``w`` and ``on_pre = "I_post += w"``
  (or the code of :func:`~brian2_delgrad.brian2_io.export.to_brian2`), no plasticity;
* delays: the variables ``d_axon`` (presynaptic group), ``d_dend``
  (postsynaptic group) and ``d_syn`` (``Synapses``) give the placements (a
  variable that is 0 everywhere is read as absent) and every synapse's
  ``delay`` must be their sum (to within ``dt``); without them, a synapse's
  ``delay`` is a synaptic delay (all 0: no delays), or the placement asked
  for with ``delays=``, with which the delays must agree (an axonal delay is
  the same for all synapses of a presynaptic neuron, ...).
"""
import re

import numpy as np
import sympy

from ..core.delays import PLACEMENTS, parse_placements, placement_label
from ..core.lif import LIFModel, lif_time_constants
from ..core.network import DelayNetwork

__all__ = ["from_brian2"]


def from_brian2(objects, delays=None, namespace=None, level=0):
    """The network that a user's Brian2 objects describe: sizes, model, weights, connectivity, delays.

    What can be read is listed in this module's docstring (:mod:`~brian2_delgrad.brian2_io.reader`):
    a feed-forward chain of ``NeuronGroup`` objects with the LIF model
    (compared as functions, not as text), ``Synapses`` with ``w`` and ``on_pre =
    'I_post += w'``, delays from the placement variables ``d_axon``,
    ``d_dend``, ``d_syn`` or from each synapse's ``delay``. Anything else
    is a ``ValueError`` naming the Brian2 object; nothing is guessed. The
    inverse of :func:`~brian2_delgrad.brian2_io.export.to_brian2`.

    Parameters
    ----------
    objects : brian2.Network or iterable of Brian2 objects
        The input group, one ``NeuronGroup`` per layer and the ``Synapses``
        between consecutive ones (monitors are ignored).
    delays : str or list of str, optional
        Placement of each layer's delays when the objects have no
        placement variables (``'synaptic'``, ``'axonal'``, ``'dendritic'``,
        ``'none'``; one for all layers or a list; default: synaptic, or
        none if all delays are 0).
    namespace : dict, optional
        Values of the equations' external constants (``tau_m`` ...), as
        Brian2's ``run(namespace=...)``; default: the caller's variables,
        as ``Network.run`` finds them.
    level : int
        How many frames above the caller to look for them.

    Returns
    -------
    DelayNetwork
        With the objects' sizes, model, weights, connectivity and delays (seconds).

    Examples
    --------
    >>> import brian2 as b2
    >>> tau_m, tau_s = 10*b2.ms, 5*b2.ms
    >>> inputs = b2.SpikeGeneratorGroup(2, [0, 1], [1, 2]*b2.ms)
    >>> layer = b2.NeuronGroup(3, "dv/dt = -v/tau_m + I/tau_s : 1\\ndI/dt = -I/tau_s : 1", threshold="v > 1")
    >>> synapses = b2.Synapses(inputs, layer, "w : 1", on_pre="I_post += w")
    >>> synapses.connect(p=1.0)
    >>> from_brian2([inputs, layer, synapses]).sizes
    (2, 3)
    """
    from brian2 import get_local_namespace

    namespace = get_local_namespace(level + 1) if namespace is None else namespace
    groups, synapses = _collect(objects)
    chain, links = _chain(groups, synapses)
    model = _model(chain[1:], namespace)
    masks, weights = zip(*(_weights(link, model) for link in links))
    asked = None if delays is None else parse_placements(delays, len(links))
    placements, values = zip(*(_delays(link, mask, None if asked is None else asked[k])
                               for k, (link, mask) in enumerate(zip(links, masks))))
    net = DelayNetwork([len(group) for group in chain], delays=[placement_label(p) for p in placements],
                       model=model, connectivity=list(masks))
    net.set_parameters(weights=list(weights), delays=list(values))
    return net


def _collect(objects):
    import brian2 as b2

    try:
        items = list(objects.objects if isinstance(objects, b2.Network) else objects)
    except TypeError:
        raise ValueError(f"objects must be a brian2.Network or Brian2 objects, got {type(objects).__name__}") from None
    monitors = (b2.SpikeMonitor, b2.StateMonitor, b2.PopulationRateMonitor, b2.EventMonitor)
    groups, synapses = [], []
    for item in items:
        if isinstance(item, b2.Synapses):
            synapses.append(item)
        elif isinstance(item, (b2.NeuronGroup, b2.SpikeGeneratorGroup)):
            groups.append(item)
        elif not isinstance(item, monitors + (b2.Clock,)):
            raise ValueError(f"{getattr(item, 'name', item)!s}: a {type(item).__name__} is not part of a "
                             "feed-forward network of LIF neurons (groups, synapses and monitors only)")
    if not synapses:
        raise ValueError("objects: no Synapses; a network needs an input group, layers and Synapses between them")
    return groups, synapses


def _chain(groups, synapses):
    """``[input group, layer 1, ...]`` and the Synapses into each layer, or a ValueError naming what does not fit."""
    import brian2 as b2

    into = {}
    for syn in synapses:
        for end in (syn.source, syn.target):
            if not any(end is group for group in groups):
                what = "a subgroup" if isinstance(end, b2.Subgroup) else "a group that is not among the objects"
                raise ValueError(f"{syn.name}: connects {end.name}, {what}; give whole groups")
        if syn.source is syn.target:
            raise ValueError(f"{syn.name}: recurrent synapses (from {syn.source.name} to itself) are not represented")
        into.setdefault(id(syn.target), []).append(syn)
    for group in groups:
        if len(into.get(id(group), [])) > 1:
            names = ", ".join(s.name for s in into[id(group)])
            raise ValueError(f"{group.name}: receives several Synapses ({names}); each layer is fed by the one "
                             "before it only (no layer-skipping synapses)")
    inputs = [group for group in groups if id(group) not in into]
    if len(inputs) != 1:
        raise ValueError(f"objects: need exactly one input group (a group no Synapses lead to), got "
                         f"{', '.join(g.name for g in inputs) or 'none'}")
    chain, links = inputs, []
    while True:
        out = [syn for syn in synapses if syn.source is chain[-1]]
        if not out:
            break
        if len(out) > 1:
            raise ValueError(f"{chain[-1].name}: sends several Synapses ({', '.join(s.name for s in out)}); "
                             "each layer feeds the next one only")
        if any(out[0].target is group for group in chain):
            raise ValueError(f"{out[0].name}: leads back to {out[0].target.name}; recurrent synapses are not "
                             "represented")
        chain.append(out[0].target)
        links.append(out[0])
    for item in groups + synapses:
        if not any(item is other for other in chain + links):
            raise ValueError(f"{item.name}: not on the chain from the input group {chain[0].name} "
                             "(recurrent or layer-skipping)")
    for group in chain[1:]:
        if not isinstance(group, b2.NeuronGroup):
            raise ValueError(f"{group.name}: a layer must be a NeuronGroup, got a {type(group).__name__}")
    return chain, links


def _model(layers, namespace):
    """The one LIFModel of every layer."""
    found = None
    for group in layers:
        model = _group_model(group, namespace)
        if found is not None and model != found:
            raise ValueError(f"{group.name}: its model {model} differs from the first layer's {found}; all layers "
                             "share one model")
        found = model
    return found


def _group_model(group, namespace):
    equations = group.equations
    if set(equations.diff_eq_names) != {"v", "I"}:
        raise ValueError(f"{group.name}: needs exactly the differential equations of v and I (the LIF model with "
                         f"exponential current synapses), has {sorted(equations.diff_eq_names) or 'none'}")
    if equations.subexpr_names:
        raise ValueError(f"{group.name}: subexpressions ({', '.join(sorted(equations.subexpr_names))}) are not "
                         "represented")
    regular = [obj.name for obj in group.contained_objects if "run_regularly" in obj.name]
    if regular:
        raise ValueError(f"{group.name}: run_regularly operations ({', '.join(regular)}) are not represented")
    for name in ("v", "I"):
        if not equations[name].dim.is_dimensionless:
            raise ValueError(f"{group.name}: {name} must be dimensionless (': 1'), as in the model "
                             f"dv/dt = -v/tau_m + I/tau_s, dI/dt = -I/tau_s; got {equations[name].dim}")
    try:
        equations.check_units(group, namespace or {})
    except Exception as err:                         # Brian2's DimensionMismatchError, KeyError for unknown names
        raise ValueError(f"{group.name}: its equations do not check out in Brian2: {err}") from None
    v, current = sympy.Symbol("v", real=True), sympy.Symbol("I", real=True)
    constants = {}
    rates = {name: _numeric(group, equations[name].expr.code, namespace, (v, current), constants)
             for name in ("v", "I")}
    try:
        tau_m, tau_s = lif_time_constants(*(_at(rates[name], v, current) for name in ("v", "I")),
                                          equations["v"].expr.code, equations["I"].expr.code)
    except ValueError as err:
        raise ValueError(f"{group.name}: {err}") from None
    tau_m, tau_s = _snap(tau_m, constants), _snap(tau_s, constants)
    candidate = LIFModel(tau_m=tau_m, tau_s=tau_s, theta=1.0)          # theta found below
    return LIFModel(tau_m=tau_m, tau_s=tau_s, theta=_threshold(group, candidate, namespace))


def _snap(value, constants):
    """``value``, or the constant it was computed from (the reciprocal of a reciprocal may be an ulp off)."""
    close = [c for c in constants.values() if np.isclose(c, value, rtol=1e-12, atol=0)]
    return close[0] if close else value


def _threshold(group, model, namespace):
    """``theta`` of ``v > theta`` (or of :func:`~brian2_delgrad.brian2_io.export.to_brian2`'s precise threshold)."""
    from brian2.parsing.expressions import parse_expression_dimensions

    from .precise import threshold_code

    condition = group.events.get("spike")
    if condition is None:
        raise ValueError(f"{group.name}: has no threshold; the model's is 'v > theta'")
    match = re.fullmatch(r"\s*(?:not\s+fired\s+and\s+)?v\s*>(?!=)\s*(.+?)(?:\s+and\s+not\s+fired)?\s*",
                         condition)
    if _same_code(condition, threshold_code(model)):
        expression = "theta"
    elif match and not re.search(r"\b(v|I|or|and|not)\b", match.group(1)):
        expression = match.group(1)
    else:
        raise ValueError(f"{group.name}: threshold {condition!r} is not the model's 'v > theta'")
    theta = _numeric(group, expression, namespace, (), {})
    try:
        dimensionless = parse_expression_dimensions(
            expression, group.resolve_all(sorted(re.findall(r"[A-Za-z_]\w*", expression)),
                                          run_namespace=namespace or {})).is_dimensionless
    except Exception as err:                         # Brian2's parser: unknown names, mismatched units
        raise ValueError(f"{group.name}: threshold {condition!r}: {err}") from None
    if not dimensionless:
        raise ValueError(f"{group.name}: threshold {condition!r}: theta must be dimensionless, like v")
    if not (theta.is_number and theta.is_real and float(theta) > 0):
        raise ValueError(f"{group.name}: threshold {condition!r}: theta must be a positive number, got {theta}")
    return float(theta)


#: Parameters Brian2 adds for refractoriness: they change during a run.
_CHANGING = ("lastspike", "not_refractory")


def _numeric(group, code, namespace, keep, constants):
    """A Brian2 expression as SymPy with every identifier but ``keep`` replaced by its value (SI units).

    Only external constants and per-neuron parameters (equal for all neurons) are allowed: nothing that
    changes during a run (``t``, noise, refractoriness, ...). The values used go into ``constants``.
    """
    from brian2.core.variables import Constant
    from brian2.parsing.sympytools import str_to_sympy

    try:
        expression = str_to_sympy(code)
    except Exception as err:                         # Brian2's parser raises several types
        raise ValueError(f"{group.name}: cannot read {code!r}: {err}") from None
    names = {s.name for s in expression.free_symbols} - {s.name for s in keep}
    try:
        resolved = group.resolve_all(sorted(names), run_namespace=namespace or {})
    except KeyError as err:
        raise ValueError(f"{group.name}: {err.args[0] if err.args else err}; give its value in namespace=") from None
    parameters = set(group.equations.parameter_names) - set(_CHANGING)
    values = {}
    for name, variable in resolved.items():
        if isinstance(variable, Constant):
            value = variable.value
        elif name in parameters:
            value = np.asarray(variable.get_value(), dtype=np.float64)
            if value.size == 0 or not np.all(value == value.flat[0]):
                raise ValueError(f"{group.name}: {name} differs between neurons; the model has one value")
            value = value.flat[0]
        else:
            raise ValueError(f"{group.name}: {name} in {code!r} is not a constant (it changes during a run, or is "
                             "noise); the model's constants are external constants or per-neuron parameters")
        values[name] = float(np.asarray(value, dtype=np.float64))
    constants.update(values)
    keep_names = {s.name: s for s in keep}
    return expression.subs({s: values[s.name] if s.name in values else keep_names[s.name]
                            for s in expression.free_symbols})


def _at(expression, v, current):
    """A right-hand side (SymPy, constants substituted) as a function ``(v, I) -> float``."""
    return lambda x, y: float(expression.subs({v: x, current: y}))


def _same_code(a, b):
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


def _weights(syn, model):
    """Connectivity (n_pre, n_post) and weights (0 where a synapse is missing) of a Synapses."""
    from .builder import exact_delay
    from .precise import arrival_code

    if "w" not in syn.variables:
        raise ValueError(f"{syn.name}: has no weight variable w (declare 'w : 1' and on_pre='I_post += w')")
    if not syn.variables["w"].dim.is_dimensionless:
        raise ValueError(f"{syn.name}: w must be dimensionless, got {syn.variables['w'].dim}")
    if len(syn._pathways) != 1 or syn._pathways[0].prepost != "pre":
        raise ValueError(f"{syn.name}: needs exactly one pathway, on_pre = 'I_post += w' (no on_post)")
    code = syn._pathways[0].code
    if not (_same_code(code, "I_post += w") or _same_code(code, arrival_code(model, exact_delay()))):
        raise ValueError(f"{syn.name}: on_pre {code!r} is not 'I_post += w'")
    if syn.summed_updaters:
        raise ValueError(f"{syn.name}: summed variables ({', '.join(sorted(syn.summed_updaters))}) are not "
                         "represented")
    if syn.equations.diff_eq_names:
        raise ValueError(f"{syn.name}: synaptic dynamics ({', '.join(sorted(syn.equations.diff_eq_names))}) are "
                         "not represented")
    if "jitter" in syn.variables and np.any(syn.variables["jitter"].get_value() != 0):
        raise ValueError(f"{syn.name}: a nonzero jitter is not a parameter of the network")
    i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    n_pre, n_post = len(syn.source), len(syn.target)
    pairs = i * n_post + j
    if np.unique(pairs).size != pairs.size:
        first = pairs[np.flatnonzero(np.bincount(pairs) > 1)[0] == pairs][0]
        raise ValueError(f"{syn.name}: several synapses from {first // n_post} to {first % n_post}; at most one "
                         "per pair of neurons")
    mask = np.zeros((n_pre, n_post), bool)
    mask[i, j] = True
    weights = np.zeros((n_pre, n_post))
    weights[i, j] = np.asarray(syn.variables["w"].get_value(), dtype=np.float64)
    return mask, weights


def _delays(syn, mask, asked):
    """The placements of one connection layer and their values (seconds)."""
    owners = dict(pre=syn.source, post=syn.target, synapses=syn)
    i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    total = np.asarray(syn.delay_[:], dtype=np.float64)
    found = {}
    for name, placement in PLACEMENTS.items():
        owner = owners[placement.site]
        if placement.variable in owner.variables:
            value = np.asarray(owner.variables[placement.variable].get_value(), dtype=np.float64)
            if np.any(value != 0):
                found[name] = value
    if found:
        per_synapse = np.zeros(len(i))
        parts = {"pre": lambda v: v[i], "post": lambda v: v[j], "synapses": lambda v: v}
        for name, value in found.items():
            per_synapse += parts[PLACEMENTS[name].site](value)
        dt = float(syn.clock.dt_)
        if np.any(np.abs(total - per_synapse) > dt + 1e-12):
            worst = int(np.argmax(np.abs(total - per_synapse)))
            raise ValueError(f"{syn.name}: the delay of synapse {i[worst]} -> {j[worst]} ({total[worst]:g} s) is not "
                             f"the sum of its placement variables ({per_synapse[worst]:g} s)")
        placements = tuple(p for p in PLACEMENTS if p in found)
        if asked is not None and tuple(asked) != placements:
            raise ValueError(f"{syn.name}: its placement variables give {placement_label(placements)!r}, not the "
                             f"{placement_label(asked)!r} asked for")
        values = {}
        for name in placements:
            value = found[name]
            if PLACEMENTS[name].site == "synapses":
                dense = np.zeros(mask.shape)
                dense[i, j] = value
                value = dense
            else:                                    # a neuron without synapses here: its value has no effect
                value = np.where(mask.any(axis=1 if PLACEMENTS[name].site == "pre" else 0), value, 0.0)
            values[name] = value
        return placements, values
    if asked is None:
        asked = ("synaptic",) if np.any(total != 0) else ()
    if len(asked) > 1:
        raise ValueError(f"{syn.name}: per-synapse delays split into {placement_label(asked)!r} in more than one way; "
                         "ask for one placement or give the placement variables d_axon, d_dend, d_syn")
    if not asked:
        if np.any(total != 0):
            raise ValueError(f"{syn.name}: has nonzero delays, but 'none' was asked for")
        return (), {}
    (name,) = asked
    placement = PLACEMENTS[name]
    shape = placement.shape(*mask.shape)
    index = {"pre": i, "post": j, "synapses": (i, j)}[placement.site]
    value = np.zeros(shape)
    value[index] = total
    if np.any(value[index] != total):
        holder = {"pre": ("presynaptic neuron", i), "post": ("postsynaptic neuron", j)}[placement.site]
        bad = int(np.flatnonzero(value[index] != total)[0])
        raise ValueError(f"{syn.name}: {name} delays are one per {holder[0]}, but the synapses of neuron "
                         f"{holder[1][bad]} have different delays")
    return asked, {name: value}
