"""DelayNetwork: a layered feed-forward network of LIF neurons with weights and delays."""
import copy
import hashlib
import numbers

import numpy as np

from ..utils.checks import float_array, seed_value, times_in_seconds
from ..utils.memory import check_fits, network_bytes
from ..utils.settings import Setting, takes_settings
from ..utils.storage import read_archive, write_archive
from .delays import (DELAY_RANGE, delay_groups as _delay_groups, delay_range_in_seconds, delay_shape, expand_delays,
                     groups_as_lists, parse_placements, placement_label, reduce_arrival_gradient, total_delay)
from .lif import LIFModel

__all__ = ["DelayNetwork", "DELAY_INIT", "DEFAULT_DELAYS", "DEFAULT_WEIGHT_INIT", "CONNECTION_PROBABILITY", "check_sizes", "check_weight_init",
           "random_connectivity"]

#: Spread of the initial delays (the std of the sigmoid's argument), declared once for the API and model files.
DELAY_INIT = Setting("delay_init", "number", low=0, doc="std of the initial delays' sigmoid argument", default=0.25)
#: The defaults of the two arguments that are not settings (a placement spec, per-layer pairs), for the API and
#: model files.
DEFAULT_DELAYS, DEFAULT_WEIGHT_INIT = "synaptic", (1.0, 1.0)


class DelayNetwork:
    """A layered spiking network with learnable weights and transmission delays.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input layer first, e.g. ``[4, 30, 3]``.
    delays : str or list of str
        Where the delays sit: ``'none'``, ``'axonal'``, ``'dendritic'``,
        ``'synaptic'`` or a ``'+'``-joined combination, for all connection
        layers or as a list with one entry per connection layer.
    model : LIFModel, optional
        The neuron model of every non-input layer (default ``LIFModel()``).
    weight_init : (float, float) or list of (float, float)
        ``(mean, std)`` of the normal distribution of initial weights
        (dimensionless), for all connection layers or one pair per connection
        layer (``[1.0, 1.0]`` is one pair, as in a model file).
    delay_range : tuple of Quantity, optional
        ``(low, high)`` range of the initial delays (default ``(0, tau_s)``);
        delays start at ``low + (high - low) * sigmoid(z)``, ``z ~ N(0, delay_init)``.
    seed : int or numpy.random.Generator
        Seed of the initialisation.
    delay_init : float
        Standard deviation of ``z`` above (0.25 in the published ideal
        recipes, 0.5 in the hardware one).
    delay_groups : list, optional
        Delays tied across groups of presynaptic neurons, one entry per
        connection layer: ``None`` (untied), a number ``k`` of consecutive
        neurons that share their delays (the ``k`` copies of a replicated
        input) or the group index of every presynaptic neuron. Axonal and
        synaptic delays then hold one value per group (see
        :mod:`~brian2_delgrad.core.delays`). Default: untied.
    connectivity : list, optional
        Which synapses exist: per connection layer ``None`` (all) or a
        boolean array of shape ``(n_pre, n_post)``. A missing synapse has
        weight 0, no delay of its own and is never trained; a delay value
        that delays no existing synapse (e.g. the axonal delay of a neuron
        without outgoing synapses) is 0, never trained and not counted in
        :attr:`n_parameters`. Default: all-to-all.

    Attributes
    ----------
    sizes : tuple of int
    placements : list of tuple of str
        Delay placements of each connection layer.
    model : LIFModel
    weights : list of ndarray
        One float64 array of shape ``(n_pre, n_post)`` per connection layer (dimensionless).
    delays : list of dict
        One dict per connection layer, placement name -> delays in seconds:
        ``'axonal'`` ``(n_pre,)``, ``'dendritic'`` ``(n_post,)``,
        ``'synaptic'`` ``(n_pre, n_post)`` (``n_groups`` instead of ``n_pre``
        where the layer's delays are tied).
    delay_groups : list of (ndarray or None)
        Per connection layer, the group index of every presynaptic neuron
        (shape ``(n_pre,)``) or ``None`` where delays are not tied.
    connectivity : list of ndarray of bool
        Per connection layer, ``(n_pre, n_post)``: which synapses exist.

    Examples
    --------
    >>> net = DelayNetwork([4, 30, 3], delays='synaptic')
    >>> net.n_parameters
    420
    """

    @takes_settings(DELAY_RANGE, DELAY_INIT)
    def __init__(self, sizes, delays=DEFAULT_DELAYS, model=None, weight_init=DEFAULT_WEIGHT_INIT,
                 delay_range=..., seed=0, delay_init=..., delay_groups=None, connectivity=None):
        self.sizes = check_sizes(sizes)
        check_fits(network_bytes(self.sizes), f"a {list(self.sizes)} network")
        n_layers = len(self.sizes) - 1
        self.placements = parse_placements(delays, n_layers)
        self.model = LIFModel() if model is None else model
        if not isinstance(self.model, LIFModel):
            raise ValueError(f"model must be a LIFModel, got {type(self.model).__name__}")
        rng = np.random.default_rng(seed_value(seed, "seed", generator=True))
        inits = check_weight_init(weight_init, n_layers)
        delay_init = DELAY_INIT.check(delay_init)
        groups = [None] * n_layers if delay_groups is None else _check_list(delay_groups, n_layers, "delay_groups")
        self.delay_groups = [_delay_groups(g, n_pre, f"delay_groups[{k}]")
                             for k, (g, (n_pre, _)) in enumerate(zip(groups, self.layer_shapes))]
        low, high = delay_range_in_seconds(delay_range, self.model.tau_s_)
        masks = [None] * n_layers if connectivity is None else _check_list(connectivity, n_layers, "connectivity")
        self.connectivity = [_check_mask(mask, shape, f"connectivity[{k}]")
                             for k, (mask, shape) in enumerate(zip(masks, self.layer_shapes))]
        self.weights = []
        self.delays = []
        for (n_pre, n_post), placements, (mean, std), tied in zip(self.layer_shapes, self.placements, inits,
                                                                  self.delay_groups):
            self.weights.append(rng.normal(mean, std, size=(n_pre, n_post)))
            self.weights[-1][~self.connectivity[len(self.weights) - 1]] = 0.0
            self.delays.append({
                p: low + (high - low) / (1 + np.exp(-rng.normal(0.0, float(delay_init),
                                                                size=delay_shape(p, n_pre, n_post, tied))))
                for p in placements
            })
            for p, used in self.used_delays(len(self.delays) - 1).items():
                self.delays[-1][p][~used] = 0.0            # a value that delays no synapse is 0

    @property
    def layer_shapes(self):
        """``(n_pre, n_post)`` of every connection layer (list of tuple)."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_parameters(self):
        """Number of trainable values: weights of existing synapses plus the delays that delay one (int)."""
        return sum(int(mask.sum()) for mask in self.connectivity) + sum(
            int(used.sum()) for k in range(len(self.weights)) for used in self.used_delays(k).values())

    @property
    def is_sparse(self):
        """Whether some synapse is missing (bool)."""
        return not all(mask.all() for mask in self.connectivity)

    def connectivity_digest(self):
        """A short fingerprint of which synapses exist.

        Returns
        -------
        list of (str or None)
            Per connection layer ``None`` (all synapses exist) or a 16-digit
            hexadecimal hash of its connectivity.
        """
        return [None if mask.all() else hashlib.sha256(np.packbits(mask).tobytes() + str(mask.shape).encode())
                .hexdigest()[:16] for mask in self.connectivity]

    def used_delays(self, layer):
        """Which delay values of connection layer ``layer`` delay at least one existing synapse.

        Parameters
        ----------
        layer : int
            Connection layer, 0 for the synapses from the input layer.

        Returns
        -------
        dict
            Placement name -> boolean array of the placement's shape.
        """
        counts = reduce_arrival_gradient(self.connectivity[layer].astype(np.float64), self.placements[layer],
                                         self.delay_groups[layer])
        return {p: count > 0 for p, count in counts.items()}

    def total_delays(self, layer):
        """The delay of every synapse: the sum of its placements' delays.

        Parameters
        ----------
        layer : int
            Connection layer, 0 for the synapses from the input layer.

        Returns
        -------
        ndarray of float64, shape (n_pre, n_post)
            Seconds.
        """
        return total_delay(self.delays[layer], *self.layer_shapes[layer], self.delay_groups[layer])

    def neuron_delays(self, layer):
        """Delays of connection layer ``layer`` per neuron, tied values copied to their group (seconds).

        Parameters
        ----------
        layer : int
            Connection layer, 0 for the synapses from the input layer.

        Returns
        -------
        dict
            Placement name -> ``'axonal'`` ``(n_pre,)``, ``'dendritic'``
            ``(n_post,)``, ``'synaptic'`` ``(n_pre, n_post)``.
        """
        return expand_delays(self.delays[layer], self.delay_groups[layer])

    def set_parameters(self, weights=None, delays=None):
        """Replace weights and/or delays (checked and copied).

        Parameters
        ----------
        weights : list of array_like, optional
            One ``(n_pre, n_post)`` array of dimensionless weights per connection layer.
        delays : list of dict, optional
            One dict per connection layer with exactly the layer's placements;
            values are actual delays (Quantity or float seconds), ``>= 0``.
        """
        n_layers = len(self.layer_shapes)
        if weights is not None:
            weights = _check_list(weights, n_layers, "weights")
            weights = [float_array(w, f"weights[{k}]", shape) for k, (w, shape) in enumerate(zip(weights,
                                                                                                 self.layer_shapes))]
            for k, (w, mask) in enumerate(zip(weights, self.connectivity)):
                if np.any(w[~mask] != 0):
                    i, j = np.argwhere((w != 0) & ~mask)[0]
                    raise ValueError(f"weights[{k}][{i}, {j}] is {float(w[i, j])!r}: the synapse {i} -> {j} is missing "
                                     "(connectivity), its weight must be 0")
            self.weights = weights
        if delays is not None:
            delays = _check_list(delays, n_layers, "delays")
            new = []
            for k, (layer, placements, shape, tied) in enumerate(zip(delays, self.placements, self.layer_shapes,
                                                                     self.delay_groups)):
                if not isinstance(layer, dict) or set(layer) != set(placements):
                    raise ValueError(f"delays[{k}] must be a dict with the keys {sorted(placements)}, "
                                     f"got {sorted(layer) if isinstance(layer, dict) else layer!r}")
                new.append({p: times_in_seconds(layer[p], f"delays[{k}][{p!r}]",
                                                delay_shape(p, *shape, tied), minimum=0.0)
                            for p in placements})
                for p, used in self.used_delays(k).items():
                    if np.any(new[k][p][~used] != 0):
                        index = tuple(int(a[0]) for a in np.nonzero((new[k][p] != 0) & ~used))
                        raise ValueError(f"delays[{k}][{p!r}]{list(index)} delays no existing synapse "
                                         "(connectivity): it must be 0")
            self.delays = new

    def save(self, path):
        """Write sizes, placements, model and parameters to an ``.npz`` file (no pickle), atomically.

        An archive of kind ``'network'`` (:mod:`~brian2_delgrad.utils.storage`):
        arrays ``weights_<k>`` and ``delays_<k>_<placement>`` (seconds), and
        ``meta`` fields ``sizes``, ``placements``, ``tau_m``, ``tau_s``
        (seconds), ``theta`` and ``delay_groups`` (per connection layer, a
        list of group indices or ``null``); ``connectivity_<k>`` (bool) for a
        sparse connection layer.

        Parameters
        ----------
        path : str or pathlib.Path
            File to write (replaced atomically if it exists).
        """
        arrays = {f"weights_{k}": w for k, w in enumerate(self.weights)}
        arrays.update({f"delays_{k}_{p}": d for k, layer in enumerate(self.delays) for p, d in layer.items()})
        arrays.update({f"connectivity_{k}": mask for k, mask in enumerate(self.connectivity) if not mask.all()})
        meta = dict(sizes=list(self.sizes), placements=[placement_label(p) for p in self.placements],
                    tau_m=self.model.tau_m_, tau_s=self.model.tau_s_, theta=self.model.theta,
                    delay_groups=groups_as_lists(self.delay_groups))
        write_archive(path, "network", meta, arrays)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save` (e.g. a ``parameters.npz`` of ``brian2-delgrad train``).

        Parameters
        ----------
        path : str or pathlib.Path
            An ``.npz`` file written by :meth:`save`.

        Returns
        -------
        DelayNetwork

        Raises
        ------
        ValueError
            If ``path`` cannot be read or is not such a file (a training
            checkpoint, for instance, is not).
        """
        try:
            meta, arrays = read_archive(path, "network")
            keys = {"sizes", "placements", "tau_m", "tau_s", "theta"}
            if not keys <= set(meta):
                raise ValueError(f"its meta entry lacks some of {sorted(keys)}")
        except ValueError as err:
            raise ValueError(f"{path}: not a network written by DelayNetwork.save ({err})") from None
        model = LIFModel(tau_m=meta["tau_m"], tau_s=meta["tau_s"], theta=meta["theta"])
        groups = meta.get("delay_groups")              # files from before tied delays have none
        net = cls(meta["sizes"], delays=meta["placements"], model=model,
                  delay_groups=None if groups is None else [None if g is None else np.asarray(g) for g in groups],
                  connectivity=[arrays.get(f"connectivity_{k}") for k in range(len(meta["sizes"]) - 1)])
        try:
            net.set_parameters(weights=[arrays[f"weights_{k}"] for k in range(len(net.weights))],
                               delays=[{p: arrays[f"delays_{k}_{p}"] for p in placements}
                                       for k, placements in enumerate(net.placements)])
        except KeyError as err:
            raise ValueError(f"{path}: not a network written by DelayNetwork.save (no array {err})") from None
        return net

    def copy(self):
        """An independent copy of the network.

        Returns
        -------
        DelayNetwork
            Equal sizes, placements, model and parameters; no array is shared.
        """
        return copy.deepcopy(self)

    def __repr__(self):
        spec = [placement_label(p) for p in self.placements]
        spec = spec[0] if len(set(spec)) == 1 else spec
        tied = "" if all(g is None for g in self.delay_groups) else \
            f", delay_groups={groups_as_lists(self.delay_groups)}"
        sparse = "" if not self.is_sparse else \
            f", connectivity=[{', '.join(f'{mask.mean():.0%}' for mask in self.connectivity)} of synapses]"
        return f"DelayNetwork({list(self.sizes)}, delays={spec!r}, model={self.model!r}{tied}{sparse})"


#: The probability of a synapse in a randomly connected layer, declared once for the API and model files.
CONNECTION_PROBABILITY = Setting("connection_probability", "number", low=0, high=1, low_open=True,
                                 doc="probability that a synapse exists")


def random_connectivity(sizes, probability, seed):
    """Connectivity masks in which each synapse exists independently with a layer's probability.

    As Brian2's ``Synapses.connect(p=probability)`` draws them (with its own random numbers).

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.
    probability : float or sequence of float
        One probability in ``(0, 1]`` for every connection layer, or one per layer.
    seed : int or numpy.random.Generator

    Returns
    -------
    list of ndarray of bool
        ``(n_pre, n_post)`` per connection layer.
    """
    shapes = list(zip(sizes[:-1], sizes[1:]))
    probabilities = [probability] * len(shapes) if not isinstance(probability, (list, tuple)) else \
        _check_list(probability, len(shapes), "connection_probability")
    probabilities = [CONNECTION_PROBABILITY.check(p, f"connection_probability[{k}]")
                     for k, p in enumerate(probabilities)]
    rng = np.random.default_rng(seed_value(seed, "seed", generator=True))
    return [rng.random(shape) < p for shape, p in zip(shapes, probabilities)]


def check_network(value, name="net"):
    """Raise unless ``value`` is a :class:`DelayNetwork`."""
    if not isinstance(value, DelayNetwork):
        raise ValueError(f"{name} must be a DelayNetwork, got {type(value).__name__}")
    return value


def check_sizes(sizes, name="sizes"):
    """Layer sizes as a tuple of ints: at least two positive integers (one rule for the API and model files)."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of layer sizes like [4, 30, 3], got {sizes!r}") from None
    if len(sizes) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
                                 for n in sizes):
        raise ValueError(f"{name} must be at least two positive integers like [4, 30, 3], got {list(sizes)!r}")
    return tuple(int(n) for n in sizes)


def check_weight_init(value, n_layers, name="weight_init"):
    """``(mean, std)`` for every layer from one pair or a list of pairs (plain numbers, ``std >= 0``); one rule for
    the API and model files."""
    if _is_pair(value):
        value = [value] * n_layers
    value = _check_list(value, n_layers, name)
    for k, item in enumerate(value):
        if not (_is_pair(item) and np.isfinite(np.asarray(item, float)).all() and item[1] >= 0):
            raise ValueError(f"{name}[{k}] must be (mean, std), plain numbers with std >= 0, got {item!r}")
    return [tuple(float(v) for v in item) for item in value]


def _is_pair(value):
    """Two plain real numbers (a list, tuple or array of shape (2,))."""
    return (isinstance(value, (list, tuple, np.ndarray)) and np.shape(value) == (2,)
            and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in value))


def _check_mask(mask, shape, name):
    """A connectivity mask: ``None`` (all synapses) or a boolean array of ``shape``; a new bool array."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != shape:
        raise ValueError(f"{name} must be None or a boolean array of shape {shape}, got {mask.dtype} {mask.shape}")
    return mask.copy()


def _check_list(value, n_layers, name):
    if not isinstance(value, (list, tuple)) or len(value) != n_layers:
        raise ValueError(f"{name} must be a list with one entry per connection layer ({n_layers})")
    return list(value)
