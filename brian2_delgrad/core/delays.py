"""Delay placements: where a transmission delay sits and how many values it has.

=========  ==================  ==============  ==========================================
placement  shape               Brian2          one value per
=========  ==================  ==============  ==========================================
axonal     ``(n_pre,)``        ``d_axon_pre``  presynaptic neuron, shared by its outgoing synapses
dendritic  ``(n_post,)``       ``d_dend_post`` postsynaptic neuron, shared by its inputs
synaptic   ``(n_pre, n_post)`` ``d_syn``       synapse
=========  ==================  ==============  ==========================================

Each row is a :class:`Placement` record in :data:`PLACEMENTS`, the one place
that says where a placement sits; the network, the backward pass, the Brian2
builder and gradcheck read it from there.

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
import functools
from dataclasses import dataclass

import numpy as np

from ..utils.registry import Registry
from ..utils.settings import Setting

__all__ = ["Placement", "PLACEMENTS", "DELAY_RANGE", "parse_placements", "placement_label", "delay_shape", "delay_groups",
           "groups_as_lists", "expand_delays", "total_delay", "reduce_arrival_gradient"]

_AXES = ("pre", "post")


@dataclass(frozen=True)
class Placement:
    """Where one kind of delay sits: everything the code needs to know about it, in one record.

    Attributes
    ----------
    name : str
        As written in ``delays=`` and model files, e.g. ``'axonal'``.
    axes : tuple of str
        The synapse axes its array spans: ``('pre',)`` one value per
        presynaptic neuron, ``('post',)`` per postsynaptic neuron,
        ``('pre', 'post')`` per synapse. This fixes its shape, how it adds to
        a synapse's delay and how the gradients of the synapses reduce to it;
        a placement spanning ``'pre'`` can be tied across groups of
        presynaptic neurons.
    variable : str
        Its Brian2 variable, held by the presynaptic group (``'pre'``), the
        postsynaptic group (``'post'``) or the ``Synapses`` (both).
    holder : str
        Who holds one value, for documentation.
    """

    name: str
    axes: tuple
    variable: str
    holder: str

    def __post_init__(self):
        if self.axes not in (("pre",), ("post",), ("pre", "post")):
            raise ValueError(f"Placement {self.name!r}: axes must be ('pre',), ('post',) or ('pre', 'post'), "
                             f"got {self.axes!r}")
        if not self.variable.isidentifier() or self.variable.endswith(("_pre", "_post")):
            raise ValueError(f"Placement {self.name!r}: variable must be a Brian2 name not ending in _pre or "
                             f"_post, got {self.variable!r}")

    @property
    def tied(self):
        """Whether it is indexed by the presynaptic neuron (and so can be tied across groups of them)."""
        return "pre" in self.axes

    @property
    def site(self):
        """Where its Brian2 variable lives: ``'pre'``, ``'post'`` or ``'synapses'``."""
        return self.axes[0] if len(self.axes) == 1 else "synapses"

    @property
    def brian2_name(self):
        """Its name in the code of a ``Synapses`` object: ``d_axon_pre``, ``d_dend_post``, ``d_syn``."""
        return self.variable + ("" if self.site == "synapses" else f"_{self.site}")

    def shape(self, n_pre, n_post):
        """Shape of its array between layers of ``n_pre`` (or groups of them) and ``n_post`` neurons."""
        return tuple(dict(pre=n_pre, post=n_post)[axis] for axis in self.axes)

    def per_synapse(self, values):
        """``values`` broadcastable to ``(n_pre, n_post)``: a size-1 axis where it has one value for all."""
        return np.asarray(values)[self._broadcast]

    def reduce(self, gradient):
        """Sum of a per-synapse ``(n_pre, n_post)`` array over the synapses each value delays (a new array)."""
        return gradient.sum(axis=self._missing) if self._missing else gradient.copy()

    @functools.cached_property
    def _missing(self):
        return tuple(k for k, axis in enumerate(_AXES) if axis not in self.axes)

    @functools.cached_property
    def _broadcast(self):
        """The index that gives an array of the placement's shape a size-1 axis where it has none."""
        return tuple(slice(None) if axis in self.axes else None for axis in _AXES)


#: The delay placements by name, in canonical order.
PLACEMENTS = Registry("placement", Placement)
PLACEMENTS.add(Placement("axonal", ("pre",), "d_axon", "presynaptic neuron, shared by its outgoing synapses"))
PLACEMENTS.add(Placement("dendritic", ("post",), "d_dend", "postsynaptic neuron, shared by its inputs"))
PLACEMENTS.add(Placement("synaptic", ("pre", "post"), "d_syn", "synapse"))


#: The range delays start in and stay in while they learn (default ``(0, tau_s)``), declared once for
#: :class:`~brian2_delgrad.core.network.DelayNetwork`, :class:`~brian2_delgrad.training.trainer.Trainer` and model files.
DELAY_RANGE = Setting("delay_range", "time_range", low=0, optional=True,
                      doc="(low, high) of the delays; default (0, tau_s)", default=None)


def delay_range_in_seconds(delay_range, tau_s):
    """``(low, high)`` of the delays in seconds: ``delay_range`` checked (:data:`DELAY_RANGE`), or the default
    ``(0, tau_s)`` when it is ``None`` (the one place of that default: networks, trainers and model files).

    Examples
    --------
    >>> delay_range_in_seconds(None, 5e-3)
    (0.0, 0.005)
    """
    return DELAY_RANGE.check(delay_range) or (0.0, float(tau_s))


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


def placement_label(placements):
    """The name of one connection layer's placements (a tuple as :func:`parse_placements` gives it).

    Examples
    --------
    >>> placement_label(("axonal", "synaptic")), placement_label(())
    ('axonal+synaptic', 'none')
    """
    return "+".join(placements) or "none"


def delay_shape(placement, n_pre, n_post, groups=None):
    """Shape of the delay array of ``placement`` between layers of ``n_pre`` and ``n_post`` neurons.

    ``groups`` (as :func:`delay_groups` returns it) ties the presynaptic neurons' delays: axonal and
    synaptic delays then have one value per group instead of one per presynaptic neuron.
    """
    return PLACEMENTS[placement].shape(n_pre if groups is None else int(groups.max()) + 1, n_post)


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
    return {p: d[groups] if PLACEMENTS[p].tied else d for p, d in delays.items()}


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
    for name, placement in PLACEMENTS.items():
        if name in delays:
            total += placement.per_synapse(delays[name])
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
    return {p: PLACEMENTS[p].reduce(per_pre if PLACEMENTS[p].tied else arrival_gradient) for p in placements}
