"""An independent Brian2 simulation of a DelayNetwork, written for the tests only.

It uses nothing of the package but the network's parameters and the model's
Brian2 equations: a block-diagonal batch (one copy of the network per
sample), inputs from a SpikeGeneratorGroup, the synapse delay set to the sum
of the placements' delays, and a flag that lets each neuron spike only once.
"""
import numpy as np


def brian2_spike_times(net, input_times, dt, duration):
    """Spike times of every layer from a Brian2 runtime (numpy target) simulation.

    Parameters
    ----------
    net : DelayNetwork
    input_times : ndarray, shape (batch, n_in)
        Seconds, on the dt grid; ``inf`` = no spike.
    dt, duration : float
        Seconds.

    Returns
    -------
    list of ndarray, shape (batch, n) per layer, seconds, ``inf`` = no spike.
    """
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = dt * b2.second
    batch = input_times.shape[0]
    sample, neuron = np.nonzero(np.isfinite(input_times))
    inputs = b2.SpikeGeneratorGroup(batch * net.sizes[0], sample * net.sizes[0] + neuron,
                                    input_times[sample, neuron] * b2.second)
    eqs = net.model.equations + b2.Equations("fired : boolean")
    groups, synapses, monitors = [inputs], [], []
    for layer, (n_pre, n_post) in enumerate(net.layer_shapes):
        group = b2.NeuronGroup(batch * n_post, eqs, threshold="v > theta and not fired",
                               reset="fired = True", method="exact", namespace=net.model.namespace)
        syn = b2.Synapses(groups[-1], group, "w : 1", on_pre="I_post += w")
        b, i, j = np.meshgrid(np.arange(batch), np.arange(n_pre), np.arange(n_post), indexing="ij")
        syn.connect(i=(b * n_pre + i).ravel(), j=(b * n_post + j).ravel())
        syn.w = np.broadcast_to(net.weights[layer], (batch, n_pre, n_post)).ravel()
        syn.delay = np.broadcast_to(net.total_delays(layer), (batch, n_pre, n_post)).ravel() * b2.second
        groups.append(group)
        synapses.append(syn)
        monitors.append(b2.SpikeMonitor(group))
    network = b2.Network(groups, synapses, monitors)
    network.run(duration * b2.second, namespace={})
    result = [input_times]
    for monitor, n in zip(monitors, net.sizes[1:]):
        times = np.full(batch * n, np.inf)
        index, when = np.asarray(monitor.i), np.asarray(monitor.t / b2.second)
        times[index] = when          # one spike per neuron at most
        result.append(times.reshape(batch, n))
    return result
