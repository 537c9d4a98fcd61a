"""Networks out to NIR, the Neuromorphic Intermediate Representation, and back, delays included.

NIR (``pip install brian2_delgrad[nir]``) is the common graph format of neuromorphic frameworks and
chips (snnTorch, Norse, Rockpool, Lava / Loihi 2, SpiNNaker2, Xylo). Its ``CubaLIF`` node is this
library's neuron::

    tau_syn dI/dt = -I + w_in S        tau_mem dv/dt = (v_leak - v) + r I        spike where v > v_threshold

so a :class:`~brian2_delgrad.core.network.DelayNetwork` is a chain of ``Linear``, ``Delay`` and ``CubaLIF``
nodes. Each connection layer ``k`` (1 = into the first hidden layer) is written as

* ``layer<k>_axonal``: a ``Delay`` of the ``n_pre`` presynaptic channels (axonal delays);
* ``layer<k>_weights``: a ``Linear`` of weight ``(n_post, n_pre)`` (this library's ``weights[k - 1].T``);
  with synaptic delays instead one branch per postsynaptic neuron ``j``: ``layer<k>_synaptic_<j>``, a
  ``Delay`` of the ``n_pre`` channels by the delays of the synapses onto ``j``, then
  ``layer<k>_weights_<j>``, a ``Linear`` ``(1, n_pre)`` of their weights, then ``layer<k>_route_<j>``, a
  ``Linear`` ``(n_post, 1)`` that is 1 at ``j`` and 0 elsewhere; the branches add up in the next node
  (``3 n_post`` nodes and ``n_post (2 n_pre + n_post)`` numbers: a single ``Delay`` over
  ``n_pre n_post`` channels would need a fan-out matrix of ``n_pre^2 n_post`` numbers);
* ``layer<k>_dendritic``: a ``Delay`` of the ``n_post`` summed input currents (dendritic delays);
* ``layer<k>_lif``: the ``CubaLIF`` neurons,

between the graph's ``input`` and ``output`` nodes; a placement that a layer does not have has no node.
Missing synapses of a sparse layer are zeros in the weights (and a ``connectivity`` mask in the ``Linear``
node's metadata); tied delays are written per neuron (and their groups in the graph's metadata).
Times are in seconds.

**What a spike is.** NIR's equations leave open how much charge one spike brings. Read literally (the
default, ``dt=None``), ``S`` is a sum of unit impulses (Dirac deltas), and ``w_in = tau_s``,
``r = tau_m / tau_s``, ``v_threshold = theta`` give exactly this library's dynamics at any resolution.
Discrete-time simulators (snnTorch, Norse, Lava) instead send a spike as a 1 for one time step ``dt``;
``to_nir(net, dt=...)`` writes the graph for them (``w_in = 1``, ``r = tau_m / dt``, the same threshold),
and the graph's metadata says which reading it was written for.

**What the network computes.** Time-to-first-spike coding: every neuron fires at most once and the output
neuron that fires first names the class (the graph's metadata says so). NIR's neurons have no refractory
period, so the reset carries the "once": ``v_reset`` is ``RESET`` (-1e6) times the threshold, which takes
about 14 membrane time constants to decay back to threshold's scale. A consumer that resets to 0 whatever
``v_reset`` says (snnTorch does) lets a neuron fire again, and a second spike can reach the next layer before
that layer's first spike.
"""
import importlib
from pathlib import Path

import numpy as np

from ..core.delays import placement_label
from ..core.lif import LIFModel
from ..core.network import DelayNetwork
from ..utils.checks import times_in_seconds

__all__ = ["to_nir", "from_nir", "nir_package", "NIR_CODING", "RESET"]

#: What the exported graph computes, in its metadata (``coding``).
NIR_CODING = ("time-to-first-spike: every neuron fires at most once (its reset, v_reset, lies far below "
              "threshold) and the output neuron that fires first is the class")

#: Where a neuron's membrane goes after its spike, in units of the threshold: far enough below it that the
#: neuron does not fire again within about 14 tau_m (``ln 1e6``), as this library's neurons fire once.
RESET = -1e6

#: The node types :func:`from_nir` reads.
_READ = ("Input", "Output", "Linear", "Affine", "Delay", "CubaLIF")


def nir_package():
    """The ``nir`` package, or one line on how to get it."""
    try:
        return importlib.import_module("nir")
    except ImportError:
        raise ImportError("NIR export and import need the nir package: pip install 'brian2_delgrad[nir]' "
                          "(or pip install nir)") from None


def _time_step(dt, name):
    """``dt`` (None, a Brian2 time or float seconds) as positive float seconds or None; ValueError naming ``name``."""
    if dt is None:
        return None
    if isinstance(dt, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name}: dt must be a positive time step in seconds or None, got {dt!r}")
    step = float(times_in_seconds(dt, f"{name}: dt", ()))
    if not step > 0:
        raise ValueError(f"{name}: dt must be a positive time step in seconds or None, got {dt!r}")
    return step


def to_nir(net, dt=None):
    """A NIR graph of ``net``: its neurons, weights and delays of every placement.

    Parameters
    ----------
    net : DelayNetwork
    dt : float, optional
        Seconds. ``None``: a spike is a unit impulse (NIR's equations read literally; the graph is the same
        dynamics at any time step). A time step: the graph for a discrete-time simulator that sends a spike
        as a 1 for one step of ``dt`` (snnTorch, Norse, Lava).

    Returns
    -------
    nir.NIRGraph
        Nodes as the module describes them; ``nir.write(path, graph)`` saves it (HDF5).

    Examples
    --------
    >>> graph = to_nir(DelayNetwork([4, 30, 3], delays="synaptic", seed=0))
    >>> sorted(name for name in graph.nodes if name.endswith("_1") or not name[-1].isdigit())
    ['input', 'layer1_lif', 'layer1_route_1', 'layer1_synaptic_1', 'layer1_weights_1', 'layer2_lif', \
'layer2_route_1', 'layer2_synaptic_1', 'layer2_weights_1', 'output']
    """
    nir = nir_package()
    if not isinstance(net, DelayNetwork):
        raise ValueError(f"to_nir: net must be a DelayNetwork, got {type(net).__name__}")
    dt = _time_step(dt, "to_nir")
    model = net.model
    nodes = {"input": nir.Input(input_type={"input": np.array([net.sizes[0]])})}
    edges = []
    source = "input"
    for k, ((n_pre, n_post), placements) in enumerate(zip(net.layer_shapes, net.placements)):
        name = f"layer{k + 1}"
        weights, delays, groups = net.weights[k], net.delays[k], net.delay_groups[k]
        if "axonal" in placements:
            axonal = delays["axonal"] if groups is None else delays["axonal"][groups]
            nodes[f"{name}_axonal"] = nir.Delay(delay=np.array(axonal, dtype=np.float64))
            edges.append((source, f"{name}_axonal"))
            source = f"{name}_axonal"
        target = f"{name}_dendritic" if "dendritic" in placements else f"{name}_lif"
        if "synaptic" in placements:
            synaptic = delays["synaptic"] if groups is None else delays["synaptic"][groups]
            for j in range(n_post):
                branch = (f"{name}_synaptic_{j}", f"{name}_weights_{j}", f"{name}_route_{j}")
                route = np.zeros((n_post, 1))
                route[j, 0] = 1.0
                nodes[branch[0]] = nir.Delay(delay=np.array(synaptic[:, j], dtype=np.float64))
                nodes[branch[1]] = nir.Linear(weight=weights[:, j][None, :].copy(),
                                              metadata={"connectivity": net.connectivity[k][:, j][None, :].copy()})
                nodes[branch[2]] = nir.Linear(weight=route)
                edges += [(source, branch[0]), (branch[0], branch[1]), (branch[1], branch[2]), (branch[2], target)]
        else:
            nodes[f"{name}_weights"] = nir.Linear(weight=weights.T.copy(),
                                                  metadata={"connectivity": net.connectivity[k].T.copy()})
            edges += [(source, f"{name}_weights"), (f"{name}_weights", target)]
        if "dendritic" in placements:
            nodes[target] = nir.Delay(delay=np.array(delays["dendritic"], dtype=np.float64))
            edges.append((target, f"{name}_lif"))
        nodes[f"{name}_lif"] = _cuba_lif(nir, model, n_post, dt)
        source = f"{name}_lif"
    nodes["output"] = nir.Output(output_type={"output": np.array([net.sizes[-1]])})
    edges.append((source, "output"))
    from .. import __version__
    metadata = {"source": f"brian2_delgrad {__version__}", "coding": NIR_CODING, "time_unit": "s",
                "spikes": "unit impulse" if dt is None else "1 for one time step", "placements":
                [placement_label(p) for p in net.placements]}
    metadata.update({f"layer{k + 1}_delay_groups": groups.astype(np.int64)
                     for k, groups in enumerate(net.delay_groups) if groups is not None})
    if dt is not None:
        metadata["dt"] = float(dt)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _cuba_lif(nir, model, n, dt):
    """The ``CubaLIF`` node of ``n`` neurons of ``model`` for spikes as unit impulses (``dt`` None) or as a 1 for one
    step of ``dt``."""
    full = lambda value: np.full(n, float(value))           # noqa: E731
    w_in, r = (model.tau_s_, model.tau_m_ / model.tau_s_) if dt is None else (1.0, model.tau_m_ / dt)
    return nir.CubaLIF(tau_syn=full(model.tau_s_), tau_mem=full(model.tau_m_), r=full(r), v_leak=full(0.0),
                       v_threshold=full(model.theta), v_reset=full(RESET * model.theta), w_in=full(w_in))


def from_nir(graph, dt=...):
    """The :class:`~brian2_delgrad.core.network.DelayNetwork` of a feed-forward NIR graph.

    Reads what :func:`to_nir` writes, and graphs of ``CubaLIF`` layers joined by ``Linear`` (or ``Affine``
    without bias) nodes and ``Delay`` nodes written by other tools (snnTorch, Norse, Rockpool): a ``Delay`` of
    the presynaptic channels before the weights is axonal, one of the postsynaptic channels after them
    dendritic, and branches as :func:`to_nir` writes them synaptic.

    Parameters
    ----------
    graph : nir.NIRGraph or str or pathlib.Path
        A graph, or a ``.nir`` file to read with ``nir.read``.
    dt : float or None, optional
        How the graph's ``w_in`` and ``r`` count a spike: ``None`` as a unit impulse, a time step (seconds) as
        a 1 for one step (snnTorch writes its graphs for ``dt = 1e-4``); a Brian2 time is taken too. Default:
        what the graph's metadata says (:func:`to_nir` writes it); a graph without it needs ``dt``.

    Returns
    -------
    DelayNetwork
        Weights and delays as in the graph (``to_nir`` then ``from_nir`` is the identity, bit for bit); a
        synapse is missing where a ``connectivity`` mask in the weights' metadata says so (without one every
        synapse exists, zeros included). ``v_reset`` is not read: each neuron fires once.

    Raises
    ------
    ValueError
        One line naming the node that does not map: another node type, a recurrent edge, a bias, a leak,
        inputs that lower ``v``, neurons that differ in their time constants or threshold, shapes that do not
        chain, a node off the path from input to output; or the file, where ``nir.read`` cannot read it.
    """
    nir = nir_package()
    if isinstance(graph, (str, Path)):
        try:
            graph = nir.read(graph)
        except Exception as err:                     # h5py and nir raise many kinds on a damaged file
            raise ValueError(f"{graph}: not a NIR graph nir.read can read ({type(err).__name__}: {err})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir: a nir.NIRGraph or a .nir file expected, got {type(graph).__name__}")
    metadata = graph.metadata or {}
    if dt is ...:
        if "spikes" not in metadata:
            raise ValueError("NIR graph: its metadata does not say how much a spike counts (to_nir writes "
                             "'spikes'): give dt, None for unit impulses or the time step of a simulator that sends "
                             "a spike as a 1 for one step (snnTorch: 1e-4)")
        dt = _time_step(metadata.get("dt"), "NIR graph metadata")
    else:
        dt = _time_step(dt, "from_nir")
    reader = _GraphReader(nir, graph)
    source = reader.input_node()
    layers, neurons = [], []
    while True:
        layer, source = reader.layer(source)
        layers.append(layer)
        neurons.append(reader.neurons(source))
        if reader.is_last(source):
            break
    model = _model(neurons, dt)
    sizes = [layers[0]["weights"].shape[0]] + [layer["weights"].shape[1] for layer in layers]
    reader.check_output(source)
    groups = [metadata.get(f"layer{k + 1}_delay_groups") for k in range(len(layers))]
    net = DelayNetwork(sizes, delays=[placement_label(tuple(layer["delays"])) for layer in layers], model=model,
                       delay_groups=[None if g is None else np.asarray(g) for g in groups],
                       connectivity=[layer["connectivity"] for layer in layers])
    net.set_parameters(weights=[layer["weights"] for layer in layers],
                       delays=[_tie(layer["delays"], tied, k) for k, (layer, tied) in enumerate(zip(layers, net.delay_groups))])
    return net


def _tie(delays, groups, layer):
    """Per-neuron axonal and synaptic delays back to one value per group of tied neurons (the first of each); the
    others must equal it."""
    if groups is None:
        return delays
    first = np.unique(groups, return_index=True)[1]
    tied = {p: d[first] if p in ("axonal", "synaptic") else d for p, d in delays.items()}
    for p in ("axonal", "synaptic"):
        if p in delays and not np.array_equal(tied[p][groups], delays[p]):
            raise ValueError(f"NIR graph: layer{layer + 1}_delay_groups ties neurons whose {p} delays differ")
    return tied


def _model(neurons, dt):
    """The :class:`LIFModel` of every layer's ``CubaLIF`` node (``neurons``: (name, node) pairs); a spike counted
    as a unit impulse (``dt`` None) or as a 1 for one step of ``dt``."""
    values = {}
    for name, node in neurons:
        parameters = {key: np.asarray(getattr(node, key), dtype=np.float64).ravel()
                      for key in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in")}
        for key, value in parameters.items():
            if value.size == 0 or not np.all(np.isfinite(value)):
                raise ValueError(f"NIR node {name!r}: {key} must be finite numbers, got {value[:4].tolist()}")
        if np.any(parameters["v_leak"] != 0):
            raise ValueError(f"NIR node {name!r}: v_leak must be 0 (this library's neurons rest at 0), got "
                             f"{float(parameters['v_leak'][parameters['v_leak'] != 0][0])!r}")
        tau_syn, tau_mem, r, w_in = (parameters[key] for key in ("tau_syn", "tau_mem", "r", "w_in"))
        if np.any(tau_syn <= 0) or np.any(tau_mem <= 0):
            raise ValueError(f"NIR node {name!r}: tau_syn and tau_mem must be positive (seconds)")
        charge = w_in / tau_syn if dt is None else w_in * dt / tau_syn
        if not np.all(r * charge > 0) or not np.all(parameters["v_threshold"] > 0):
            raise ValueError(f"NIR node {name!r}: r, w_in and v_threshold must be positive (an input must raise v "
                             "towards a threshold above rest, as in this library's neurons)")
        if dt is None and np.array_equal(w_in, tau_syn) and np.array_equal(r, tau_mem / tau_syn) or \
                dt is not None and np.all(w_in == 1.0) and np.array_equal(r, tau_mem / dt):
            theta = parameters["v_threshold"]          # as to_nir writes it: the threshold is theta itself
        else:
            # the current jumps by w_in / tau_syn (w_in dt / tau_syn per step) times the weight, and v is
            # r w_in tau_s / (tau_m tau_syn) times this library's v: the same spikes at that threshold
            theta = parameters["v_threshold"] / (r * charge * tau_syn / tau_mem)
        for key, value in (("tau_syn", tau_syn), ("tau_mem", tau_mem), ("threshold", theta)):
            if np.any(value != value[0]):
                raise ValueError(f"NIR node {name!r}: its neurons differ in {key} ({float(value.min())!r} to "
                                 f"{float(value.max())!r}); this library's neurons share one")
            if values.setdefault(key, (value[0], name))[0] != value[0]:
                raise ValueError(f"NIR node {name!r}: {key} {float(value[0])!r} differs from {float(values[key][0])!r} "
                                 f"of node {values[key][1]!r}; this library's layers share one neuron model")
    return LIFModel(tau_m=float(values["tau_mem"][0]), tau_s=float(values["tau_syn"][0]),
                    theta=float(values["threshold"][0]))


class _GraphReader:
    """Walks a NIR graph from its input, layer by layer; every refusal names the node."""

    def __init__(self, nir, graph):
        self.nir, self.nodes = nir, graph.nodes
        self.visited = set()
        self.next = {name: [] for name in self.nodes}
        for edge in graph.edges:
            if len(edge) != 2 or any(end not in self.nodes for end in edge):
                raise ValueError(f"NIR graph: edge {tuple(edge)!r} joins nodes the graph does not have")
            self.next[edge[0]].append(edge[1])
        for name, node in self.nodes.items():
            if type(node).__name__ not in _READ or not isinstance(node, getattr(nir, type(node).__name__)):
                raise ValueError(f"NIR node {name!r}: {type(node).__name__} is not supported (a feed-forward graph "
                                 f"of {', '.join(_READ)} nodes is)")
        self._check_acyclic()

    def _check_acyclic(self):
        state = {}
        for start in self.nodes:
            stack = [(start, iter(self.next[start]))]
            if start in state:
                continue
            state[start] = "open"
            while stack:
                name, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[name] = "done"
                    stack.pop()
                elif state.get(child) == "open":
                    raise ValueError(f"NIR node {child!r}: a recurrent edge from {name!r} (only feed-forward graphs "
                                     "map to a DelayNetwork)")
                elif child not in state:
                    state[child] = "open"
                    stack.append((child, iter(self.next[child])))

    def _one_after(self, name):
        after = self.next[name]
        if len(after) != 1:
            raise ValueError(f"NIR node {name!r}: feeds {len(after)} nodes {after}; one expected here")
        return after[0]

    def _size(self, name):
        """The channels out of node ``name``."""
        node = self.nodes[name]
        if isinstance(node, (self.nir.Linear, self.nir.Affine)):
            return node.weight.shape[0]
        if isinstance(node, self.nir.Delay):
            return np.size(node.delay)
        if isinstance(node, self.nir.CubaLIF):
            return np.size(node.v_threshold)
        return int(np.prod(next(iter((node.input_type if isinstance(node, self.nir.Input)
                                      else node.output_type).values()))))

    def input_node(self):
        inputs = [name for name, node in self.nodes.items() if isinstance(node, self.nir.Input)]
        outputs = [name for name, node in self.nodes.items() if isinstance(node, self.nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"NIR graph: one Input and one Output node expected, got inputs {inputs} and outputs "
                             f"{outputs}")
        shape = next(iter(self.nodes[inputs[0]].input_type.values()))
        if np.size(shape) != 1:
            raise ValueError(f"NIR node {inputs[0]!r}: a flat input expected (shape (n,)), got shape "
                             f"{tuple(int(n) for n in np.ravel(shape))}")
        self.visited.add(inputs[0])
        return inputs[0]

    def is_last(self, lif):
        """Whether the ``CubaLIF`` node ``lif`` feeds the graph's Output node (and nothing else)."""
        after = self.next[lif]
        return len(after) == 1 and isinstance(self.nodes[after[0]], self.nir.Output)

    def check_output(self, lif):
        """The Output node after the last ``CubaLIF`` node: its size, nothing after it, and no node off the path
        from the input to it."""
        output = self._one_after(lif)
        if self._size(output) != self._size(lif):
            raise ValueError(f"NIR node {output!r}: {self._size(output)} channels, the output layer has "
                             f"{self._size(lif)} neurons")
        if self.next[output]:
            raise ValueError(f"NIR node {output!r}: the Output node feeds {self.next[output]}")
        self.visited.add(output)
        for name in self.nodes:
            if name not in self.visited:
                raise ValueError(f"NIR node {name!r}: not on the path from the input to the output")

    def _weights(self, name, n_pre):
        """The ``(n_pre, n)`` weights of a Linear (or bias-free Affine) node fed ``n_pre`` channels, and its mask."""
        node = self.nodes[name]
        if not isinstance(node, (self.nir.Linear, self.nir.Affine)):
            raise ValueError(f"NIR node {name!r}: a Linear node expected here, got {type(node).__name__}")
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2 or weight.shape[1] != n_pre or not np.all(np.isfinite(weight)):
            raise ValueError(f"NIR node {name!r}: a finite weight of shape (n, {n_pre}) expected, got shape "
                             f"{weight.shape}")
        if isinstance(node, self.nir.Affine) and node.bias is not None and np.any(np.asarray(node.bias) != 0):
            raise ValueError(f"NIR node {name!r}: a bias does not map to these neurons (they have none)")
        mask = (node.metadata or {}).get("connectivity")
        if mask is None:                                 # without a mask every synapse exists, zeros included
            mask = np.ones(weight.shape, dtype=np.bool_)
        mask = np.asarray(mask)
        if mask.shape != weight.shape or mask.dtype != np.bool_:
            raise ValueError(f"NIR node {name!r}: metadata 'connectivity' must be bool of shape {weight.shape}")
        if np.any(weight[~mask] != 0):
            raise ValueError(f"NIR node {name!r}: a weight where metadata 'connectivity' has no synapse")
        self.visited.add(name)
        return weight.T, mask.T

    def _delays(self, name, size):
        node = self.nodes[name]
        delay = np.asarray(node.delay, dtype=np.float64)
        if delay.shape != (size,) or not np.all(np.isfinite(delay)) or np.any(delay < 0):
            raise ValueError(f"NIR node {name!r}: {size} finite delays >= 0 (seconds) expected, got "
                             f"{delay.tolist() if delay.size <= 4 else f'shape {delay.shape}'}")
        self.visited.add(name)
        return delay

    def neurons(self, name):
        node = self.nodes[name]
        if not isinstance(node, self.nir.CubaLIF):
            raise ValueError(f"NIR node {name!r}: CubaLIF neurons expected here, got {type(node).__name__}")
        self.visited.add(name)
        return name, node

    def layer(self, source):
        """The connection layer after node ``source`` (the presynaptic channels) up to its ``CubaLIF`` node.

        Returns (``dict(weights, connectivity, delays)``, the name of the ``CubaLIF`` node)."""
        n_pre = self._size(source)
        delays = {}
        after = self.next[source]
        if len(after) == 1 and isinstance(self.nodes[after[0]], self.nir.Delay) and not self._branch_start(after[0]):
            delays["axonal"] = self._delays(after[0], n_pre)              # a Delay of the presynaptic channels
            source = after[0]
            after = self.next[source]
        if len(after) > 1 or after and self._branch_start(after[0]):
            for start in after:                      # several: synaptic branches, each checked by name
                if not self._branch_start(start):
                    raise ValueError(f"NIR node {start!r}: one of {len(after)} nodes fed by {source!r}; a synaptic "
                                     "branch (Delay of n_pre -> Linear (1, n_pre) -> Linear (n_post, 1)) expected")
            weights, mask, delays["synaptic"], target = self._branches(after, n_pre)
        else:
            name = self._one_after(source)
            weights, mask = self._weights(name, n_pre)
            target = self._one_after(name)
        if isinstance(self.nodes[target], self.nir.Delay):
            delays["dendritic"] = self._delays(target, weights.shape[1])
            target = self._one_after(target)
        self.neurons(target)
        if self._size(target) != weights.shape[1]:
            raise ValueError(f"NIR node {target!r}: {self._size(target)} neurons fed {weights.shape[1]} channels")
        return dict(weights=weights, connectivity=mask, delays=delays), target

    def _branch_start(self, name):
        """Whether ``name`` starts a synaptic branch: Delay -> Linear (1, n) -> Linear (m, 1)."""
        if not isinstance(self.nodes[name], self.nir.Delay) or len(self.next[name]) != 1:
            return False
        weights = self.nodes[self.next[name][0]]
        if not isinstance(weights, (self.nir.Linear, self.nir.Affine)) or np.ndim(weights.weight) != 2 or \
                np.shape(weights.weight)[0] != 1 or len(self.next[self.next[name][0]]) != 1:
            return False
        route = self.nodes[self.next[self.next[name][0]][0]]
        return isinstance(route, self.nir.Linear) and np.ndim(route.weight) == 2 and np.shape(route.weight)[1] == 1

    def _branches(self, branches, n_pre):
        """Weights ``(n_pre, n_post)``, mask, synaptic delays and the common target of the synaptic branches."""
        columns, targets = {}, set()
        n_post = np.shape(self.nodes[self._one_after(self._one_after(branches[0]))].weight)[0]
        for start in branches:
            weights_name = self._one_after(start)
            route_name = self._one_after(weights_name)
            route = np.asarray(self.nodes[route_name].weight, dtype=np.float64)[:, 0]
            hot = np.flatnonzero(route)
            if len(route) != n_post or len(hot) != 1 or route[hot[0]] != 1.0:
                raise ValueError(f"NIR node {route_name!r}: a route of {n_post} channels (one 1, zeros elsewhere) "
                                 "expected")
            if hot[0] in columns:
                raise ValueError(f"NIR node {route_name!r}: a second branch into neuron {hot[0]}")
            weight, mask = self._weights(weights_name, n_pre)
            columns[hot[0]] = (weight[:, 0], mask[:, 0], self._delays(start, n_pre))
            self.visited.add(route_name)
            targets.add(self._one_after(route_name))
        if len(targets) != 1 or sorted(columns) != list(range(n_post)):
            raise ValueError(f"NIR node {branches[0]!r}: synaptic branches must feed one node, one per neuron "
                             f"(got {len(columns)} of {n_post} neurons, into {sorted(targets)})")
        weights, mask, synaptic = (np.stack([columns[j][i] for j in range(n_post)], axis=1) for i in range(3))
        return weights, mask, synaptic, targets.pop()
