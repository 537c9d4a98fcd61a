"""A trained network as plain Brian2 objects the user owns (:func:`to_brian2`), and how long to run them.

The objects come from the one builder (:mod:`~brian2_delgrad.brian2_io.builder`)
that :class:`~brian2_delgrad.substrates.Brian2Substrate` also uses; the inverse,
reading a user's Brian2 network, is :func:`~brian2_delgrad.brian2_io.reader.from_brian2`.
"""
import numpy as np

from ..core.network import check_network
from ..utils.checks import times_in_seconds
from ..utils.settings import takes_settings
from .builder import DT, TIMING, assign, build, parameter_values, simulated_time

__all__ = ["to_brian2", "simulation_time"]


@takes_settings(DT, TIMING)
def to_brian2(net, input_times, dt=..., timing=...):
    """The network as a plain ``brian2.Network`` for the given inputs, ready to ``run``.

    One copy of the network per sample, the trained weights and delays, only
    the existing synapses.

    Parameters
    ----------
    net : DelayNetwork
    input_times : Quantity or array_like, shape (n_in,) or (batch, n_in)
        Input spike times of one sample or a batch (seconds if plain
        numbers, ``>= 0``); ``inf`` = no spike.
    dt : Quantity, optional
        Time step (default ``10*us``), at most a tenth of the time constants.
    timing : {'precise', 'grid'}
        ``'precise'``: spike times agree with the exact substrate to
        rounding; ``'grid'``: plain clock-driven Brian2, spikes on the grid.

    Returns
    -------
    brian2.Network
        Objects ``network['inputs']``, ``network['neurons_<k>']``
        (layer ``k`` = 1, 2, ...: ``v``, ``I``, ``theta``, ``t_spike``),
        ``network['synapses_<k>']`` (``w``, ``d_syn``, ``delay``; ``d_axon``
        lives in the presynaptic group, ``d_dend`` in the postsynaptic
        one) and ``network['spikes_<k>']`` (a ``SpikeMonitor``; its
        ``t_spike`` are the spike times). Neuron ``j`` of sample ``s`` has
        index ``s * n_k + j``. Run it for at least :func:`simulation_time`
        (``network.run(simulation_time(net, x))``); add a ``StateMonitor``
        first to record membranes.

    Examples
    --------
    >>> from brian2 import ms
    >>> from brian2_delgrad import DelayNetwork
    >>> net = DelayNetwork([2, 3, 2], delays="synaptic", weight_init=(2.0, 0.5))
    >>> network = to_brian2(net, [1.0, 2.0] * ms)
    >>> sorted(obj.name for obj in network.objects if not obj.name.endswith(("thresholder", "resetter",
    ...        "stateupdater", "pre", "subexpression_update")))[:4]
    ['inputs', 'neurons_1', 'neurons_2', 'spikes_1']
    """
    check_network(net)
    times = _input_times(net, input_times)
    dt = DT.check(dt) or 10e-6
    objects = build(net, len(times), dt, TIMING.check(timing))
    thresholds = [np.full((len(times), n), net.model.theta) for n in net.sizes[1:]]
    assign(objects, parameter_values(objects, net, times, thresholds, [None] * len(net.weights)))
    return objects.network


def simulation_time(net, input_times):
    """How long to run :func:`to_brian2`'s network.

    Parameters
    ----------
    net : DelayNetwork
    input_times : Quantity or array_like, shape (n_in,) or (batch, n_in)
        Input spike times (seconds if plain numbers), ``inf`` = no spike.

    Returns
    -------
    Quantity
        The latest input, then per layer the largest delay and 3 ``tau_m``.
    """
    from brian2 import second

    check_network(net)
    return simulated_time(net, _input_times(net, input_times), 10e-6) * second


def _input_times(net, input_times):
    """``input_times`` as a (batch, n_in) array of seconds, checked."""
    times = times_in_seconds(input_times, "input_times", None, allow_inf=True, minimum=0.0)
    times = times[None] if times.ndim == 1 else times
    return times_in_seconds(times, "input_times", (None, net.sizes[0]), allow_inf=True)
