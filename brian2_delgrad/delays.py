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
"""
import numpy as np

__all__ = ["PLACEMENTS", "parse_placements", "delay_shape", "total_delay", "reduce_arrival_gradient"]

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


def delay_shape(placement, n_pre, n_post):
    """Shape of the delay array of ``placement`` between layers of ``n_pre`` and ``n_post`` neurons."""
    return {"axonal": (n_pre,), "dendritic": (n_post,), "synaptic": (n_pre, n_post)}[placement]


def total_delay(delays, n_pre, n_post):
    """Delay of every synapse, the sum over placements.

    Parameters
    ----------
    delays : dict
        Placement name -> delay array (any unit, typically seconds).
    n_pre, n_post : int
        Layer sizes.

    Returns
    -------
    ndarray, shape (n_pre, n_post)
    """
    total = np.zeros((n_pre, n_post))
    if "axonal" in delays:
        total += delays["axonal"][:, None]
    if "dendritic" in delays:
        total += delays["dendritic"][None, :]
    if "synaptic" in delays:
        total += delays["synaptic"]
    return total


def reduce_arrival_gradient(arrival_gradient, placements):
    """Gradient with respect to the delays of each placement, from the gradient per synapse.

    Parameters
    ----------
    arrival_gradient : ndarray, shape (n_pre, n_post)
        ``dL/dt~_ij`` summed over the batch (0 outside the causal sets).
    placements : tuple of str

    Returns
    -------
    dict
        Placement name -> gradient array of the placement's shape.
    """
    reductions = {"axonal": lambda g: g.sum(axis=1), "dendritic": lambda g: g.sum(axis=0), "synaptic": np.copy}
    return {p: reductions[p](arrival_gradient) for p in placements}
