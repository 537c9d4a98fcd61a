"""Brian2 substrate: the batched network simulated by Brian2, spike times recorded, nothing else.

One Brian2 network holds the whole batch as block-diagonal copies of the
:class:`~brian2_delgrad.core.network.DelayNetwork`, built by
:mod:`~brian2_delgrad.brian2_io.builder` (as :func:`~brian2_delgrad.to_brian2` is):
one ``NeuronGroup`` per layer with the model's own equations, inputs that fire
once at their times, each neuron's first spike only (a ``fired`` flag in the
threshold), the existing synapses only, a ``SpikeMonitor`` per layer and no
``StateMonitor``. The delays live where they belong: ``d_axon`` is a variable
of the presynaptic group, ``d_dend`` of the postsynaptic group, ``d_syn`` of
the ``Synapses``, and every synapse's ``delay`` is their sum (with precise
timing rounded down to the grid).

Time discretisation: Brian2 applies a synaptic effect at the end of a time
step and detects a threshold crossing at the end of a step. With
``timing='precise'`` (default) the model's linearity undoes both (see
:mod:`~brian2_delgrad.brian2_io.precise`): within a step, layer by layer,
each synapse adds what its input would have done since its exact arrival
before the threshold is tested, a neuron already above threshold when an
input arrives fires whatever that input does, and each neuron's crossing is
found between the grid points and recorded as ``t_spike`` by the
``SpikeMonitor``; spike times then agree with the exact substrate to
rounding except where two inputs to one neuron arrive within its crossing's
step. Membrane noise is a kick at the start of every step, exact for an
Ornstein-Uhlenbeck membrane on the grid, with the free solution in between
(``builder._state_update``). With
``timing='grid'`` it is plain clock-driven Brian2: ``I += w`` at the end of
the step of delivery, spikes at the start ``t_n`` of the step in which ``v``
crosses threshold (up to one ``dt`` early), delays rounded to the grid; an
input fires in the step that contains its time (``t_in < t + dt``), like a
``SpikeGeneratorGroup``.

The network is built once per network shape (layer sizes, time constants,
connectivity) for ``copies`` samples and reused: every run restores the initial state and assigns the
new weights, delays and input times (no recompilation). Runs with fewer
samples are padded with silent samples; more samples are run in chunks.
"""
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from ..brian2_io.builder import DT, TIMING, assign, build, check_time_step, parameter_values, set_delays, simulated_time
from ..brian2_io.precise import order_notes_hidden
from ..utils.settings import Setting, check_settings, takes_settings
from .base import Substrate
from .noise import forward_passes

__all__ = ["Brian2Substrate", "TARGETS"]

logger = logging.getLogger(__name__)

#: Brian2 code-generation targets a substrate can use.
TARGETS = ("numpy", "cython", "cpp_standalone")


class Brian2Substrate(Substrate):
    """Forward pass of a :class:`~brian2_delgrad.core.network.DelayNetwork` in Brian2.

    Parameters
    ----------
    dt : Quantity
        Simulation time step (default ``10*us``; a plain number is in
        seconds). At most a tenth of ``tau_m`` and ``tau_s``.
    target : {'cython', 'numpy', 'cpp_standalone'}
        Brian2 code generation: a runtime target, or a C++ binary compiled
        once (one network shape per substrate and process; it simulates the
        duration of the first batch plus ``tau_s`` per layer for every run).
    batch_size : int, optional
        Samples per forward pass, each with its own draw of the batch-to-batch
        threshold noise (``None``: a whole run is one pass), as in the exact
        substrate; and the default of ``copies``.
    window : float
        Simulated time per layer after the latest input and delay, in units
        of ``tau_m`` (default 3; a crossing after the last input happens
        before the membrane's peak, within about 1.5 ``tau_m``).
    noise : Noise, optional
        Membrane noise (a kick drawn by Brian2's ``randn`` at the start of
        every step, the free solution in between: see ``builder._state_update``),
        threshold pattern, trial-to-trial and batch-to-batch threshold noise,
        delay jitter.
    seed : int, optional
        Seed of all noise (Brian2's ``randn`` included): same seed, same spikes.
    directory : str, optional
        Project folder of ``cpp_standalone`` (default: a temporary folder,
        removed with the substrate).
    pattern_seed : int, optional
        Seed of the threshold pattern alone (default ``seed``), as in
        :class:`~brian2_delgrad.substrates.ExactSubstrate`.
    timing : {'precise', 'grid'}
        ``'precise'``: arrivals and threshold crossings at their exact times
        between the grid points (exact sub-step integration of the linear
        model); ``'grid'``: plain clock-driven Brian2, spike times on the
        ``dt`` grid.
    copies : int, optional
        Copies of the network simulated at once; default ``batch_size``, else
        the size of the first run with a network of that shape. Smaller runs
        (the last batch of an epoch) are padded, larger ones (a validation
        set) run in chunks: nothing is rebuilt. How a run is cut into
        simulations does not change its threshold noise or jitter; membrane
        noise is seeded per simulation, so it depends on ``copies``.
    """

    #: The Brian2 settings, declared once (``batch_size`` and the noise are every substrate's).
    SETTINGS = (DT, Setting("target", "choice", choices=TARGETS, doc="Brian2 code generation", default="cython"),
                Setting("window", "number", low=0, low_open=True, unit="tau_m", doc="time simulated after the inputs",
                        default=3.0),
                TIMING,
                Setting("copies", "integer", low=1, optional=True, doc="network copies simulated at once",
                        default=None))

    @takes_settings(SETTINGS)
    def __init__(self, dt=..., target=..., batch_size=None, window=..., noise=None, seed=None,
                 directory=None, pattern_seed=None, timing=..., copies=...):
        values = check_settings(self.SETTINGS, locals())
        super().__init__(noise, seed, pattern_seed, batch_size, target=target)
        self.dt = 10e-6 if values["dt"] is None else values["dt"]
        self.target, self.window, self.timing, self.copies = (values[k] for k in ("target", "window", "timing",
                                                                                 "copies"))
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise ValueError(f"directory must be a path, got {directory!r}")
        self.directory = os.fspath(directory) if directory else None
        self._built = {}

    #: The simulation starts at 0: inputs are ``>= 0``.
    earliest_input = 0.0

    def recorded_settings(self):
        """The time step and the timing: a run resumed with others would not continue the same numbers.

        Returns
        -------
        dict
            ``dt_us`` (microseconds) and ``timing``.
        """
        return dict(dt_us=round(self.dt * 1e6, 9), timing=self.timing)

    @classmethod
    def unsupported_noise(cls, target="cython", **options):
        """The :class:`~brian2_delgrad.substrates.Noise` fields this substrate cannot apply, with the reason.

        Parameters
        ----------
        target : {'cython', 'numpy', 'cpp_standalone'}
            The code-generation target: ``cpp_standalone`` has no membrane noise.
        **options
            The other constructor options (none matters).

        Returns
        -------
        dict
            ``{field: reason}``, both str: ``spike_jitter`` always, ``membrane`` for ``cpp_standalone``.
        """
        unsupported = {"spike_jitter": "it shifts spikes earlier too, which Brian2 cannot deliver; use "
                                       "ExactSubstrate for spike jitter (delay_jitter works in both)"}
        if target == "cpp_standalone":
            unsupported["membrane"] = ("it needs a new random seed per run, which a compiled cpp_standalone binary "
                                       "cannot take; use target='cython' or 'numpy'")
        return unsupported

    def _run(self, net, times):
        """As :meth:`Substrate.run <brian2_delgrad.substrates.Substrate.run>`: spike times of simulated layers
        are on the dt grid if ``timing='grid'``."""
        simulation = self._simulation(net, len(times), times)
        # Noise for the real samples only, drawn per forward pass as the exact substrate draws it ...
        passes = [(self._source.thresholds(net, size), [self._source.jitter((size,) + shape)
                                                        for shape in net.layer_shapes])
                  for _, size in forward_passes(len(times), self.batch_size)]
        thresholds = [np.concatenate(layer) for layer in zip(*(theta for theta, _ in passes))]
        jitters = [None if layer[0] is None else np.concatenate(layer) for layer in zip(*(j for _, j in passes))]
        chunks = []                                  # ... then simulated in chunks of the built size
        for start, count in forward_passes(len(times), simulation.size):
            part = slice(start, start + count)
            seed = self._source.simulator_seed() if self.noise.membrane else None
            chunks.append(simulation.run(net, times[part], [t[part] for t in thresholds],
                                         [None if j is None else j[part] for j in jitters], seed))
        return [np.concatenate(layer) for layer in zip(*chunks)]

    def _simulation(self, net, count, first_inputs):
        """The built simulation for this network shape: ``copies``, ``batch_size`` or the first run's size."""
        # theta, weights and delays are variables; the synapses that exist are built
        key = (tuple(net.sizes), net.model.tau_m_, net.model.tau_s_, tuple(net.connectivity_digest()))
        if key not in self._built:
            check_time_step(net, self.dt)
            if self.target == "cpp_standalone" and self._built:
                raise ValueError("cpp_standalone: one Brian2Substrate builds one network shape (the device "
                                 "holds one project); use another Brian2Substrate process for another shape")
            if self.target == "cpp_standalone" and self.directory is None:
                self.directory = tempfile.mkdtemp(prefix="brian2_delgrad_cpp_")
                weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
            size = self.copies or self.batch_size or count
            self._built[key] = _Simulation(net, size, self.dt, self.target, self.window, self.noise, first_inputs,
                                           self.directory, self.timing)
        return self._built[key]

    def __repr__(self):
        return (f"Brian2Substrate(dt={self.dt * 1e6:g}*us, target={self.target!r}, batch_size={self.batch_size}, "
                f"copies={self.copies}, timing={self.timing!r})")


class _Simulation:
    """One built Brian2 network (:func:`~brian2_delgrad.brian2_io.builder.build`): ``size`` block-diagonal copies
    of a network shape.

    Runtime targets assign the parameters of every run after restoring the
    initial state; ``cpp_standalone`` is compiled once and gets them as
    ``run_args`` of its constant variables (delays are computed in the
    binary from those variables).
    """

    def __init__(self, net, size, dt, target, window, noise, first_inputs, directory, timing):
        import brian2 as b2

        self.size, self.target, self.window = size, target, window
        self.standalone = target == "cpp_standalone"
        if self.standalone:
            b2.set_device("cpp_standalone", build_on_run=False, directory=directory)
            b2.get_device().reinit()
            b2.get_device().activate(build_on_run=False, directory=directory)
        else:
            b2.prefs.codegen.target = target           # (again before every run: other code may change it)
        self.objects = build(net, size, dt, timing, noise.membrane)
        self.network = self.objects.network
        if self.standalone:
            b2.get_device().apply_run_args()           # the run's values, before the delays use them
            set_delays(self.objects)
            # One duration for every run: the first batch's, with room for delays to grow by tau_s per layer.
            self.duration = simulated_time(net, first_inputs, dt, window) + len(net.weights) * net.model.tau_s_
            with order_notes_hidden():
                self.network.run(self.duration * b2.second, namespace={})
            self.device = b2.get_device()
            self.device.build(run=False, directory=directory)
            self._static = set(Path(directory, "static_arrays").iterdir())
            self.directory = directory
            b2.set_device("runtime")
        else:
            self.network.store("initial")

    def run(self, net, input_times, thresholds, jitters, seed):
        """Simulate up to ``size`` samples; padding copies are silent and get the first sample's noise."""
        count = len(input_times)
        padded = np.full((self.size, net.sizes[0]), np.inf)
        padded[:count] = input_times
        values = parameter_values(self.objects, net, padded, [_pad(t, self.size) for t in thresholds],
                                  [None if j is None else _pad(j, self.size) for j in jitters])
        if self.standalone:
            self._run_standalone(net, input_times, values)
        else:
            self._run_runtime(net, input_times, values, seed)
        result = [input_times]
        for layer, n in zip(self.objects.layers, net.sizes[1:]):
            times = np.full(self.size * n, np.inf)
            times[np.asarray(layer.monitor.i)] = np.asarray(layer.monitor.t_spike_)
            result.append(times.reshape(self.size, n)[:count])
        return result

    def _run_runtime(self, net, input_times, values, seed):
        import brian2 as b2

        self.network.restore("initial")              # restore first: it resets weights and delays too
        assign(self.objects, values)
        b2.prefs.codegen.target = self.target
        if seed is not None:                         # membrane noise: Brian2's randn
            b2.seed(seed)
        with order_notes_hidden():
            self.network.run(simulated_time(net, input_times, self.objects.clock.dt_, self.window) * b2.second,
                             namespace={})

    def _run_standalone(self, net, input_times, values):
        needed = simulated_time(net, input_times, self.objects.clock.dt_, self.window)
        if needed > self.duration:
            logger.warning(f"cpp_standalone: this batch needs {needed * 1e3:.1f} ms but the binary simulates "
                           f"{self.duration * 1e3:.1f} ms; later spikes are missed")
        self.device.run(run_args={getattr(owner, name): value for (owner, name), value in values.items()})
        for path in set(Path(self.directory, "static_arrays").iterdir()) - self._static:
            path.unlink(missing_ok=True)             # run_args files (tens of MB at 5000 copies)


def _pad(values, size):
    """``values`` (count, ...) extended to ``size`` rows by repeating the first (padding samples are silent)."""
    return np.concatenate([values, np.repeat(values[:1], size - len(values), axis=0)])
