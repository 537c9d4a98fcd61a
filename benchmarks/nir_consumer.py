"""An exported network run by another project's NIR import (snnTorch's), its spikes against the exact simulator.

Run (in an environment with ``torch`` and ``snntorch`` besides this package and its ``nir`` extra)::

    brian2-delgrad train yinyang_h30_w --out results/yinyang_h30_w/seed0
    python3 benchmarks/nir_consumer.py yinyang_h30_w results/yinyang_h30_w/seed0/parameters.npz

Writes the network with ``to_nir(net, dt=1e-4)`` (snnTorch reads graphs for its fixed step of 0.1 ms), reads it
back from the file with ``nir.read``, imports it with ``snntorch.import_nir.import_from_nir`` and runs the test
split through it step by step (float32, snnTorch's own Euler steps). Prints, per layer, how many first spikes
agree with the exact event-based simulator within 1 and 2 steps, the spikes only one of them has, and how
often the two make the same class decision (the output neuron that fires first; in snnTorch, ties within a
step go to the neuron whose membrane is furthest above threshold, then to the lowest index, as here). For
reference, the same on the same grid for NIR's equations integrated with exact decays (``integrate_nir``, a
reference written here from the node definitions): what any simulator on that grid can hope for.

snnTorch's import has no ``Delay`` node (nor have Norse's and Rockpool's, in their versions of 2025-26), so
only networks without delays run there; it resets a neuron to 0 after a spike whatever ``v_reset`` says, so
a neuron may fire again (this library's neurons fire once), which the counts include.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

#: snnTorch's time step for NIR graphs (seconds), fixed in its importer.
SNNTORCH_DT = 1e-4


def run_snntorch(graph, inputs, steps, once):
    """First spike times (seconds; inf = none) of every CubaLIF layer of ``graph`` (a NIRGraph or a file), and the output
    membranes at those steps (before their reset), run by snnTorch for ``steps`` steps of :data:`SNNTORCH_DT`.

    ``inputs``: ``(batch, n_in)`` input spike times in seconds, each sent as a 1 in the first step at or after it
    (a simulator on a grid sees a spike at the next grid point). ``once``: the graph's time-to-first-spike reading
    (its metadata's ``coding``): a neuron's spikes after its first are not passed on (a forward hook on each
    snnTorch neuron layer masks them), since snnTorch resets to 0 whatever ``v_reset`` says."""
    import nir
    import snntorch
    import snntorch.utils
    import torch
    from snntorch.import_nir import import_from_nir

    module = import_from_nir(graph if isinstance(graph, nir.NIRGraph) else nir.read(graph))
    layers = [(name, m) for name, m in module.named_modules() if isinstance(m, snntorch.Synaptic)]
    first = {name: np.full((len(inputs), m.threshold.numel() if m.threshold.numel() > 1 else 0), np.inf)
             for name, m in layers}
    recorded = {}
    fired, before = {}, {}

    def record(name, module, out):
        if once:                                   # spikes after a neuron's first are not passed on
            out = out * ~fired.setdefault(name, torch.zeros_like(out, dtype=torch.bool))
            fired[name] |= out > 0
        # the membrane of this step before a spike's reset to 0: beta * (last step's) + the new current
        previous = before[name] if before[name].shape == module.syn.shape else torch.zeros_like(module.syn)
        recorded[name] = (out, module.beta.clamp(0, 1) * previous + module.syn)
        return out
    for name, m in layers:
        m.register_forward_pre_hook(lambda mod, args, name=name: before.__setitem__(name, mod.mem.detach().clone()))
        m.register_forward_hook(lambda mod, args, out, name=name: record(name, mod, out))
    bins = np.ceil(inputs / SNNTORCH_DT)
    snntorch.utils.reset(module)
    margin = None
    with torch.no_grad():
        for step in range(steps):
            x = torch.from_numpy((bins == step).astype(np.float32))
            module(x)
            for name, m in layers:
                spikes, membrane = recorded[name]
                spikes = spikes.numpy() > 0
                if first[name].shape[1] == 0:
                    first[name] = np.full(spikes.shape, np.inf)
                new = spikes & np.isinf(first[name])
                first[name][new] = step * SNNTORCH_DT
                if name == layers[-1][0]:
                    margin = np.zeros(spikes.shape) if margin is None else margin
                    margin[new] = (membrane.numpy() / m.threshold.numpy())[new]
    return [first[name] for name, _ in layers], margin


def integrate_nir(graph, inputs, dt, steps, per_step=False):
    """First spike times (seconds) of every CubaLIF node (name -> ``(batch, n)``), integrating NIR's equations node by
    node on a grid of ``dt`` (written from the NIR node definitions alone; a reference, not a simulator to use): a spike is a unit impulse (the current
    jumps by ``w_in / tau_syn`` times its weight) or, with ``per_step``, a 1 for one step (Euler: ``w_in dt /
    tau_syn``); between spikes both variables decay exactly; a Delay shifts spikes by whole steps."""
    import nir

    order, signals, first = _topological(graph), {}, {}
    batch = len(inputs)
    spikes_in = np.zeros((steps, batch, inputs.shape[1]))
    step_of = np.round(inputs / dt)
    for b, i in zip(*np.nonzero(np.isfinite(inputs))):
        spikes_in[int(step_of[b, i]), b, i] = 1.0
    incoming = {name: [a for a, c in graph.edges if c == name] for name in graph.nodes}
    for name in order:
        node = graph.nodes[name]
        total = None if isinstance(node, nir.Input) else sum(signals[a] for a in incoming[name])
        if isinstance(node, nir.Input):
            signals[name] = spikes_in
        elif isinstance(node, nir.Linear):
            signals[name] = total @ node.weight.T
        elif isinstance(node, nir.Delay):
            shifted = np.zeros_like(total)
            for c, d in enumerate(np.round(node.delay / dt).astype(int)):
                shifted[d:, :, c] = total[:steps - d, :, c]
            signals[name] = shifted
        elif isinstance(node, nir.CubaLIF):
            current, v = np.zeros(total.shape[1:]), np.zeros(total.shape[1:])
            out = np.zeros_like(total)
            fired = np.full(total.shape[1:], np.inf)
            decay_i, decay_v = np.exp(-dt / node.tau_syn), np.exp(-dt / node.tau_mem)
            same = node.tau_mem == node.tau_syn
            growth = np.where(same, node.r * dt / node.tau_mem * decay_v,
                              node.r * node.tau_syn / np.where(same, 1.0, node.tau_mem - node.tau_syn)
                              * (decay_v - decay_i))
            charge = node.w_in / node.tau_syn * (dt if per_step else 1.0)
            for n in range(steps):
                current = current + charge * total[n]
                # v and I over one step without input, exactly (the limit where tau_mem = tau_syn)
                v = v * decay_v + current * growth
                current = current * decay_i
                new = (v > node.v_threshold) & np.isinf(fired)
                fired[new] = (n + 1) * dt
                out[n + 1 if n + 1 < steps else n][new] = 1.0
                v[v > node.v_threshold] = node.v_reset[0]
            signals[name], first[name] = out, fired
        else:                                          # Output
            signals[name] = total
    return first


def _topological(graph):
    order, seen = [], set()

    def visit(name):
        if name not in seen:
            seen.add(name)
            for a, c in graph.edges:
                if c == name:
                    visit(a)
            order.append(name)
    for name in graph.nodes:
        visit(name)
    return order


def slowed(net, factor):
    """``net`` running ``factor`` times slower: its time constants and delays multiplied (the same spikes at
    ``factor`` times the times)."""
    from brian2_delgrad import DelayNetwork, LIFModel
    from brian2_delgrad.core.delays import placement_label

    model = LIFModel(tau_m=net.model.tau_m_ * factor, tau_s=net.model.tau_s_ * factor, theta=net.model.theta)
    slow = DelayNetwork(net.sizes, delays=[placement_label(p) for p in net.placements], model=model, delay_groups=net.delay_groups,
                        connectivity=net.connectivity)
    slow.set_parameters(weights=net.weights,
                        delays=[{p: d * factor for p, d in layer.items()} for layer in net.delays])
    return slow


def decisions(first, margin=None):
    """The class of each sample: the output that fires first (ties: the larger ``margin``, then the lowest index);
    -1 where none fires."""
    key = first if margin is None else first - 1e-9 * np.nan_to_num(margin) * np.isfinite(first)
    choice = np.argmin(key, axis=1)
    return np.where(np.isfinite(first).any(axis=1), choice, -1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model file the network was trained from (a shipped name or path)")
    parser.add_argument("parameters", help="the trained network (.npz)")
    parser.add_argument("--samples", type=int, default=1000, help="test samples (default 1000)")
    parser.add_argument("--window", type=float, default=60.0, help="simulated time in ms (default 60)")
    parser.add_argument("--slower", type=float, default=1.0,
                        help="run the network this many times slower (time constants, delays and input times "
                             "multiplied): snnTorch's step is fixed at 0.1 ms, so 10 is a step of 0.01 ms of the "
                             "network's own time (default 1)")
    args = parser.parse_args(argv)

    import nir

    from brian2_delgrad import DelayNetwork, ExactSubstrate, load_model_file, to_nir

    description = load_model_file(args.model)
    net = slowed(DelayNetwork.load(args.parameters), args.slower)
    if any(net.placements):
        parser.error(f"{args.parameters} has delays {net.placements}: snnTorch's NIR import has no Delay node")
    inputs, labels = description.data("test")
    inputs, labels = inputs[:args.samples] * args.slower, labels[:args.samples]
    exact = ExactSubstrate().run(net, inputs)[1:]
    with tempfile.TemporaryDirectory() as folder:
        graph_file = Path(folder) / "net.nir"
        nir.write(graph_file, to_nir(net, dt=SNNTORCH_DT))
        start = time.perf_counter()
        steps = int(round(args.window * 1e-3 * args.slower / SNNTORCH_DT))
        runs = {once: run_snntorch(graph_file, inputs, steps, once) for once in (False, True)}
        seconds = (time.perf_counter() - start) / 2
    print(f"{args.model}: {len(labels)} test samples, {list(net.sizes)}, snnTorch {steps} steps of "
          f"{SNNTORCH_DT * 1e3 / args.slower:g} ms of the network's time in {seconds:.1f} s")
    for once, (theirs, margin) in runs.items():
        print("snnTorch as it imports the graph (a neuron fires again after its reset to 0)" if not once else
              "snnTorch with the graph's time-to-first-spike reading (later spikes not passed on)")
        compare(exact, theirs, margin, labels)
    first = integrate_nir(to_nir(net), inputs, SNNTORCH_DT, steps)
    print("for reference: NIR's equations integrated on the same grid with exact decays (integrate_nir)")
    compare(exact, [first[f"layer{k}_lif"] for k in range(1, len(net.sizes))], None, labels, "grid")


def compare(exact, theirs, margin, labels, simulator="snnTorch"):
    """Print how the first spikes and decisions of the exact simulator and snnTorch agree."""
    for k, (ours, other) in enumerate(zip(exact, theirs)):
        both = np.isfinite(ours) & np.isfinite(other)
        error = np.abs(ours[both] - other[both]) / SNNTORCH_DT
        only = (np.isfinite(ours) != np.isfinite(other)).sum()
        name = "output" if k == len(exact) - 1 else f"hidden {k + 1}"
        print(f"  {name:9s} first spikes in both {both.sum():6d}: within 1 step {np.mean(error <= 1):.2%}, within 2 "
              f"steps {np.mean(error <= 2):.2%} (median {np.median(error):.2f}, max {error.max():.1f} steps); "
              f"in one only {only} ({only / ours.size:.2%} of neurons)")
    mine, other = decisions(exact[-1]), decisions(theirs[-1], margin)
    print(f"  same class decision {np.mean(mine == other):.2%}; test accuracy exact {np.mean(mine == labels):.2%}, "
          f"{simulator} {np.mean(other == labels):.2%}")


if __name__ == "__main__":
    main()
