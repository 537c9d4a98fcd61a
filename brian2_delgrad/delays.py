"""Delay placements: where a transmission delay sits and how many values it has.

=========  ==================  ==========================================
placement  shape               one value per
=========  ==================  ==========================================
axonal     ``(n_pre,)``        presynaptic neuron, shared by its outgoing synapses
dendritic  ``(n_post,)``       postsynaptic neuron, shared by its inputs
synaptic   ``(n_pre, n_post)`` synapse
=========  ==================  ==========================================

Placements combine with ``'+'`` (``'axonal+dendritic'``); ``'none'`` means
weights only. The delay of the synapse ``i -> j`` is the sum of the delays
of its placements, and a spike of neuron ``i`` at ``t_i`` arrives at ``j`` at
``t_i + d_ij``.

Delays can be *tied* across groups of presynaptic neurons (``groups``: the
group index of every presynaptic neuron, e.g. the copies of a replicated
input): the placements indexed by the presynaptic neuron (axonal, synaptic)
then hold one value per group, ``(n_groups,)`` and ``(n_groups, n_post)``,
shared by the group's neurons, and their gradient is the sum over the tied
synapses.
"""
import numpy as np

__all__ = ["PLACEMENTS", "parse_placements", "delay_shape", "delay_groups", "groups_as_lists", "expand_delays",
           "total_delay", "reduce_arrival_gradient"]

#: The delay placements, in canonical order.
PLACEMENTS = ("axonal", "dendritic", "synaptic")


def parse_placements(spec, n_layers):
    """Parse a placement description into one tuple of placements per connection layer.

    Parameters
    ----------
    spec : str or sequence of str
        ``'none'``, a placement, a ``'+'``-joined combination, or a list with
        one such string per connection layer.
    n_layers : int
        Number of connection layers (``len(sizes) - 1``).

    Returns
    -------
    list of tuple of str
        Placements of each connection layer, in the order of :data:`PLACEMENTS`.

    Raises
    ------
    ValueError
        For an unknown or repeated placement, or a list of the wrong length.
    """
    if isinstance(spec, str):
        specs = [spec] * n_layers
    elif isinstance(spec, (list, tuple)):
        specs = list(spec)
        if len(specs) != n_layers:
            raise ValueError(f"delays: a list needs one entry per connection layer ({n_layers}), got {len(specs)}")
    else:
        raise ValueError(f"delays must be a string or a list of strings, got {type(spec).__name__}")
    return [_parse_one(item) for item in specs]


def _parse_one(item):
    if not isinstance(item, str):
        raise ValueError(f"delays: each entry must be a string, got {item!r}")
    if item.strip() == "none":
        return ()
    names = [name.strip() for name in item.split("+")]
    unknown = [name for name in names if name not in PLACEMENTS]
    if unknown:
        allowed = "'none', " + ", ".join(repr(p) for p in PLACEMENTS) + " or a '+'-joined combination"
        raise ValueError(f"delays: unknown placement {unknown[0]!r} in {item!r}; allowed: {allowed}")
    if len(set(names)) != len(names):
        raise ValueError(f"delays: a placement is repeated in {item!r}")
    return tuple(p for p in PLACEMENTS if p in names)


def delay_shape(placement, n_pre, n_post, groups=None):
    """Shape of the delay array of ``placement`` between layers of ``n_pre`` and ``n_post`` neurons.

    ``groups`` (as :func:`delay_groups` returns it) ties the presynaptic neurons' delays: axonal and
    synaptic delays then have one value per group instead of one per presynaptic neuron.
    """
    n_values = n_pre if groups is None else int(groups.max()) + 1
    return {"axonal": (n_values,), "dendritic": (n_post,), "synaptic": (n_values, n_post)}[placement]


def delay_groups(spec, n_pre, name="delay_groups"):
    """The group index of every presynaptic neuron whose delays are tied, or ``None`` (untied).

    Parameters
    ----------
    spec : None, int or array_like of int
        ``None`` or 1: every neuron has its own delays; an int ``k``:
        consecutive blocks of ``k`` neurons share them (the ``k`` copies of a
        replicated input, ``numpy.repeat(times, k, axis=1)``); an array of
        ``n_pre`` group indices ``0 ... n_groups - 1``, each used.
    n_pre : int
        Size of the presynaptic layer.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    ndarray of int64, shape (n_pre,), or None

    Raises
    ------
    ValueError
        If ``k`` does not divide ``n_pre``, or the indices are not ``n_pre``
        integers that use every group from 0 up.

    Examples
    --------
    >>> delay_groups(2, 6)
    array([0, 0, 1, 1, 2, 2])
    """
    if spec is None:
        return None
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 1 or n_pre % spec:
            raise ValueError(f"{name}: {spec} copies per group do not divide the {n_pre} presynaptic neurons")
        return None if spec == 1 else np.arange(n_pre) // int(spec)
    groups = np.asarray(spec)
    if groups.shape != (n_pre,) or groups.dtype.kind not in "iu":
        raise ValueError(f"{name} must be None, a number of copies or {n_pre} integer group indices, got {spec!r}")
    if groups.min() < 0 or not np.array_equal(np.unique(groups), np.arange(groups.max() + 1)):
        raise ValueError(f"{name}: group indices must use every group 0 ... n_groups - 1, got {spec!r}")
    return None if groups.max() + 1 == n_pre and np.array_equal(groups, np.arange(n_pre)) else groups.astype(np.int64)


def groups_as_lists(groups):
    """Per-layer groups (:func:`delay_groups` results) as JSON values: lists of group indices or ``None``."""
    return [None if g is None else g.tolist() for g in groups]


def expand_delays(delays, groups=None):
    """Delays per neuron: tied values copied to every neuron of their group.

    Parameters
    ----------
    delays : dict
        Placement name -> delay array of the placement's (tied) shape.
    groups : ndarray of int, shape (n_pre,), optional

    Returns
    -------
    dict
        Placement name -> ``(n_pre,)``, ``(n_post,)`` or ``(n_pre, n_post)`` array.
    """
    if groups is None:
        return dict(delays)
    return {p: d[groups] if p in ("axonal", "synaptic") else d for p, d in delays.items()}


def total_delay(delays, n_pre, n_post, groups=None):
    """Delay of every synapse, the sum over placements.

    Parameters
    ----------
    delays : dict
        Placement name -> delay array (any unit, typically seconds), of the
        placement's shape (:func:`delay_shape`).
    n_pre, n_post : int
        Layer sizes.
    groups : ndarray of int, shape (n_pre,), optional
        Tied presynaptic neurons (:func:`delay_groups`).

    Returns
    -------
    ndarray, shape (n_pre, n_post)
    """
    delays = expand_delays(delays, groups)
    total = np.zeros((n_pre, n_post))
    if "axonal" in delays:
        total += delays["axonal"][:, None]
    if "dendritic" in delays:
        total += delays["dendritic"][None, :]
    if "synaptic" in delays:
        total += delays["synaptic"]
    return total


def reduce_arrival_gradient(arrival_gradient, placements, groups=None):
    """Gradient with respect to the delays of each placement, from the gradient per synapse.

    Every delay's gradient is the sum of ``dL/dt~_ij`` over the synapses it
    delays: the outgoing synapses of a neuron (axonal), the inputs of a
    neuron (dendritic), the synapse itself (synaptic), and over the tied
    presynaptic neurons of a group.

    Parameters
    ----------
    arrival_gradient : ndarray, shape (n_pre, n_post)
        ``dL/dt~_ij`` summed over the batch (0 outside the causal sets).
    placements : tuple of str
    groups : ndarray of int, shape (n_pre,), optional
        Tied presynaptic neurons (:func:`delay_groups`).

    Returns
    -------
    dict
        Placement name -> gradient array of the placement's shape.
    """
    per_pre = arrival_gradient
    if groups is not None:
        per_pre = np.zeros((int(groups.max()) + 1, arrival_gradient.shape[1]))
        np.add.at(per_pre, groups, arrival_gradient)
    reductions = {"axonal": lambda: per_pre.sum(axis=1), "dendritic": lambda: arrival_gradient.sum(axis=0),
                  "synaptic": lambda: per_pre.copy()}
    return {p: reductions[p]() for p in placements}
