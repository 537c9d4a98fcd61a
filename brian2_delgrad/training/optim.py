"""Optimisation: Adam, bounded delays, the missing-spike rule and the non-finite guard."""
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..core.delays import DELAY_RANGE, PLACEMENTS
from ..exact import epoch_kernel
from ..exact.step import FlatOptimiser
from ..utils.registry import Registry
from ..utils.settings import Setting

__all__ = ["Adam", "DelayBounds", "SigmoidBounds", "ClipBounds", "DELAY_BOUNDS", "DELAY_BOUNDS_SETTING", "delay_bounds",
           "NetworkOptimiser", "step_decay", "missing_spike_layer", "finite_or_zero", "quantize_weights"]


@dataclass
class Adam:
    """Adam (Kingma & Ba) over a list of arrays, updated in place.

    Parameters
    ----------
    beta1, beta2, eps : float
        The usual Adam constants.
    steps : int
        Updates made so far (0 for a new optimiser; given to continue one).
    moments : list of tuple of ndarray
        First and second moment of every parameter array, each of that
        array's shape (empty: zeros at the first :meth:`step`).
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    steps: int = 0
    moments: list = field(default_factory=list)

    def step(self, parameters, gradients, learning_rates):
        """Update ``parameters`` in place.

        Parameters
        ----------
        parameters : list of ndarray
            Writeable C-contiguous float64 arrays of any shape, changed in place.
        gradients : list of array_like
            One per parameter, of its shape.
        learning_rates : list of float or ndarray
            One learning rate per array: a number, or an array of its shape (a rate per entry).

        Raises
        ------
        ValueError
            If a parameter (or a moment given to the constructor) cannot be updated in place or a gradient
            has another shape; nothing is changed then.
        """
        moments = self.moments or [(np.zeros_like(p), np.zeros_like(p)) for p in parameters]
        gradients = [np.asarray(g, dtype=np.float64) for g in gradients]
        if not len(parameters) == len(gradients) == len(learning_rates) == len(moments):
            raise ValueError(f"Adam: {len(parameters)} parameters, {len(gradients)} gradients, {len(learning_rates)} "
                             f"learning rates and {len(moments)} moments; they must match")
        for k, (p, g, pair) in enumerate(zip(parameters, gradients, moments)):
            for name, array in (("parameter", p), ("first moment", pair[0]), ("second moment", pair[1])):
                if not (isinstance(array, np.ndarray) and array.dtype == np.float64 and array.flags.c_contiguous
                        and array.flags.writeable and array.shape == np.shape(p)):
                    raise ValueError(f"Adam: {name} {k} must be a writeable C-contiguous float64 array of the "
                                     f"parameter's shape (updated in place), got {type(array).__name__} "
                                     f"{getattr(array, 'dtype', '')} {np.shape(array)}")
            if g.shape != p.shape:
                raise ValueError(f"Adam: gradient {k} has shape {g.shape}, its parameter {p.shape}")
        self.moments = moments
        self.steps += 1
        correction1 = 1 - self.beta1 ** self.steps
        correction2 = 1 - self.beta2 ** self.steps
        one_minus_beta1, one_minus_beta2 = 1 - self.beta1, 1 - self.beta2
        for p, g, lr, (m, v) in zip(parameters, gradients, learning_rates, self.moments):
            m *= self.beta1                               # in place, one rounding per operation
            m += one_minus_beta1 * g
            v *= self.beta2
            v += one_minus_beta2 * g * g
            p -= lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


@dataclass(frozen=True)
class DelayBounds:
    """How delays are kept in ``[low, high]`` while they learn: the base of one small class per method.

    The optimiser works on a *free* parameter per delay; a method says how
    it maps to the delay, how the gradient follows and how a step is kept
    in range. :data:`DELAY_BOUNDS` maps the method names of ``Trainer`` and
    model files to the classes; :func:`delay_bounds` makes one by name.

    Parameters
    ----------
    low, high : float
        Bounds in seconds, ``0 <= low < high``.
    tau_s : float
        Synaptic time constant in seconds.

    Notes
    -----
    A method names itself in the class variable ``method`` and implements
    ``to_free(delays)``, ``to_delays(free)`` and ``free_gradient(free,
    delay_gradient)`` (see :class:`SigmoidBounds`), and :meth:`project` if a
    step can leave the range; all work elementwise on arrays of any shape.
    """

    low: float
    high: float
    tau_s: float
    method: ClassVar[str] = None

    def __post_init__(self):
        DELAY_RANGE.check((self.low, self.high))

    def project(self, free):
        """Keep the free parameter inside the range after a step, in place (nothing to do by default).

        Parameters
        ----------
        free : ndarray of float64, any shape
            The free parameters of some delays, changed in place.
        """


@dataclass(frozen=True)
class SigmoidBounds(DelayBounds):
    """``d = low + (high - low) * sigmoid(free)`` (the published recipe): always in range.

    Parameters
    ----------
    low, high : float
        Bounds in seconds, ``0 <= low < high``.
    tau_s : float
        Synaptic time constant in seconds (not used by this method).

    Examples
    --------
    >>> bounds = SigmoidBounds(0.0, 5e-3, 5e-3)
    >>> bounds.to_delays(np.array([0.0]))
    array([0.0025])
    >>> bounds.to_free(np.array([0.0025]))
    array([0.])
    """

    method: ClassVar[str] = "sigmoid"

    def to_free(self, delays):
        """Optimiser parameters for actual delays.

        Parameters
        ----------
        delays : ndarray of float64, any shape
            Seconds; clipped to ``1e-12`` of the range's width inside ``[low, high]``,
            so that the bounds have finite parameters.

        Returns
        -------
        ndarray of float64, the shape of ``delays``
            ``logit((delays - low) / (high - low))``, dimensionless.
        """
        fraction = np.clip((delays - self.low) / (self.high - self.low), 1e-12, 1 - 1e-12)
        return np.log(fraction / (1 - fraction))

    def to_delays(self, free):
        """Actual delays for optimiser parameters.

        Parameters
        ----------
        free : ndarray of float64, any shape
            Dimensionless.

        Returns
        -------
        ndarray of float64, the shape of ``free``
            Seconds, within ``[low, high]``.
        """
        return self.low + (self.high - self.low) / (1 + np.exp(-free))

    def free_gradient(self, free, delay_gradient):
        """Chain rule from the gradient of the delays to that of the optimiser parameters.

        Parameters
        ----------
        free : ndarray of float64, any shape
            The optimiser parameters (dimensionless).
        delay_gradient : ndarray of float64, the shape of ``free``
            ``dL/dd``, 1/second.

        Returns
        -------
        ndarray of float64, the shape of ``free``
            ``dL/dfree = dL/dd * (high - low) * sigmoid'(free)``, dimensionless.
        """
        sigmoid = 1 / (1 + np.exp(-free))
        return delay_gradient * (self.high - self.low) * sigmoid * (1 - sigmoid)


@dataclass(frozen=True)
class ClipBounds(DelayBounds):
    """The free parameter is ``d / tau_s``, clipped to the range after every step.

    Parameters
    ----------
    low, high : float
        Bounds in seconds, ``0 <= low < high``.
    tau_s : float
        Synaptic time constant in seconds: the unit of the free parameter.

    Examples
    --------
    >>> bounds = ClipBounds(0.0, 5e-3, 5e-3)
    >>> bounds.to_free(np.array([2.5e-3, 7e-3]))
    array([0.5, 1. ])
    """

    method: ClassVar[str] = "clip"

    def to_free(self, delays):
        """Optimiser parameters for actual delays.

        Parameters
        ----------
        delays : ndarray of float64, any shape
            Seconds; clipped to ``[low, high]`` first.

        Returns
        -------
        ndarray of float64, the shape of ``delays``
            The delays in units of ``tau_s``.
        """
        return np.clip(delays, self.low, self.high) / self.tau_s

    def to_delays(self, free):
        """Actual delays for optimiser parameters.

        Parameters
        ----------
        free : ndarray of float64, any shape
            Delays in units of ``tau_s``.

        Returns
        -------
        ndarray of float64, the shape of ``free``
            Seconds, ``free * tau_s`` clipped to ``[low, high]``.
        """
        return np.clip(free * self.tau_s, self.low, self.high)

    def free_gradient(self, free, delay_gradient):
        """Chain rule from the gradient of the delays to that of the optimiser parameters.

        Parameters
        ----------
        free : ndarray of float64, any shape
            The optimiser parameters, in units of ``tau_s`` (not needed: the map is linear).
        delay_gradient : ndarray of float64, the shape of ``free``
            ``dL/dd``, 1/second.

        Returns
        -------
        ndarray of float64, the shape of ``free``
            ``dL/dfree = dL/dd * tau_s``, dimensionless.
        """
        return delay_gradient * self.tau_s

    def project(self, free):
        """Clip the free parameters to ``[low, high] / tau_s`` after a step, in place.

        Parameters
        ----------
        free : ndarray of float64, any shape
            The free parameters of some delays, changed in place.
        """
        np.clip(free, self.low / self.tau_s, self.high / self.tau_s, out=free)


def _check_bounds(name, cls):
    """A delay-bound method's contract: a DelayBounds subclass whose ``method`` is its name."""
    if not (isinstance(cls, type) and issubclass(cls, DelayBounds) and cls.method == name):
        raise ValueError(f"delay bounds {name!r}: register a DelayBounds subclass with method = {name!r}, "
                         f"got {cls!r}")


#: Delay-bound methods by name: the one place a name becomes a class.
DELAY_BOUNDS = Registry("delay bounds", _check_bounds)
for _bounds in (SigmoidBounds, ClipBounds):
    DELAY_BOUNDS.register(_bounds.method, _bounds)

#: The setting that names a method, for :class:`~brian2_delgrad.training.trainer.Trainer` and model files.
DELAY_BOUNDS_SETTING = Setting("delay_bounds", "choice", choices=lambda: tuple(DELAY_BOUNDS),
                               doc="how delays stay in delay_range", default="sigmoid")


def delay_bounds(method, low, high, tau_s):
    """The :class:`DelayBounds` of ``method`` (a key of :data:`DELAY_BOUNDS`) for ``[low, high]`` seconds."""
    return DELAY_BOUNDS[DELAY_BOUNDS_SETTING.check(method)](low, high, tau_s)


#: Consecutive skipped batches after which the missing-spike rule warns that training has stalled
#: (the bump is then 2**20 times its first value).
STALLED_BUMPS = 20


class NetworkOptimiser:
    """The optimiser's side of a network: Adam on its weights and bounded delays, its weight grid, the missing-spike bump.

    The optimiser works on float *shadow* weights and on the delays' free
    parameters (``bounds``); after every change the network gets their
    realisation: weights clipped to ``+-weight_limit`` and rounded to
    multiples of ``weight_step``, delays ``bounds.to_delays(free)``.

    Parameters
    ----------
    net : DelayNetwork
        Changed in place; its parameters now are the starting point.
    bounds : DelayBounds
    bump : float
        First weight bump of the missing-spike rule (doubling while it repeats).
    weight_step, weight_limit : float or None
        The substrate's weight grid (``None``: none).

    Notes
    -----
    Every shadow weight and free parameter lives in one flat array (the weights of every layer, then the free
    parameters of every layer and placement), as do the gradients and Adam's moments: a step is a few NumPy
    operations on the whole array, not a few per array (a Yin-Yang batch's step took 61 us, now 35 us). Every
    operation is elementwise, so the numbers are those of a step array by array. ``weights``, ``free`` and
    :meth:`state` are views of it, one per array (read them; replacing an item changes nothing).
    """

    def __init__(self, net, bounds, bump, weight_step=None, weight_limit=None):
        self.net, self.bounds, self.bump = net, bounds, bump
        self.weight_step, self.weight_limit = weight_step, weight_limit
        self._used = [net.used_delays(k) for k in range(len(net.weights))]     # the others stay 0
        self.restore(weights=net.weights, adam_steps=0, adam_moments=[], bump=bump,
                     free=[{p: bounds.to_free(d) for p, d in layer.items()} for layer in net.delays])

    def step(self, grads, lr_weights, lr_delays):
        """One Adam step from :class:`~brian2_delgrad.exact.gradients.Gradients`; returns how many non-finite
        gradient entries were zeroed (nothing non-finite gets through)."""
        gradients = self._arrays(grads.weights, [{p: layer_grads[p] for p in layer}      # by name, in our order
                                                 for layer, layer_grads in zip(self.free, grads.delays, strict=True)])
        _fill(self._gradient_views, gradients)
        (_, free), (_, gradient_free) = self._parts(self._flat), self._parts(self._gradient)
        gradient_free[...] = self.bounds.free_gradient(free, gradient_free)
        nonfinite = finite_or_zero([self._gradient])
        self.adam.step([self._flat], [self._gradient], [self._rates(lr_weights, lr_delays)])
        self.bounds.project(free)
        self._realise()
        self.bump_now = self.bump
        return nonfinite

    def bump_silent(self, layer, silent):
        """The missing-spike rule: raise the weights into the ``silent`` neurons (bool, (n,)) of ``layer``
        (1 = first hidden layer) by the current bump, which doubles for the next time."""
        # on a weight grid, a bump smaller than a grid step would not change the network; missing synapses stay 0
        self._weights[layer - 1][:, silent] += np.where(self.net.connectivity[layer - 1][:, silent],
                                                       max(self.bump_now, self.weight_step or 0.0), 0.0)
        self._realise()
        self.bump_now *= 2
        if self.bump_now == self.bump * 2.0 ** STALLED_BUMPS:
            _warn_stalled(layer, self.bump_now)

    def flat_state(self, lr_weights, lr_delays, silence):
        """The state as a compiled epoch takes it (:class:`~brian2_delgrad.exact.step.FlatOptimiser`: views of
        this optimiser's arrays, updated in place), or ``None`` where the compiled epoch cannot do what
        :meth:`step` does (a weight grid, delay bounds of a registered method of one's own). Give it back to
        :meth:`after_epoch`.

        Parameters
        ----------
        lr_weights, lr_delays : float
            The epoch's learning rates.
        silence : tuple of float
            The missing-spike rule's limits ``(hidden, output)``.
        """
        code = {SigmoidBounds: epoch_kernel.SIGMOID, ClipBounds: epoch_kernel.CLIP}.get(type(self.bounds))
        if code is None or self.weight_step is not None or self.weight_limit is not None:
            return None
        codes = dict(axonal=epoch_kernel.AXONAL, dendritic=epoch_kernel.DENDRITIC, synaptic=epoch_kernel.SYNAPTIC)
        plan, used, index = [], [], len(self._weights)
        for layer, (free, groups) in enumerate(zip(self.free, self.net.delay_groups)):
            for placement in free:
                tied = groups is not None and PLACEMENTS[placement].tied
                plan.append((layer, codes[placement], self._ends[index - 1], int(tied)))
                used.append(self._used[layer][placement].ravel())
                index += 1
        groups = tuple(np.zeros(0, np.int64) if g is None else np.asarray(g, np.int64)
                       for g in self.net.delay_groups)
        return FlatOptimiser(flat=self._flat, moments=self._moments, rates=self._rates(lr_weights, lr_delays),
                             plan=np.array(plan, dtype=np.int64).reshape(-1, 4), groups=groups,
                             used=np.concatenate(used) if used else np.zeros(0, np.bool_),
                             bounds=(code, self.bounds.low, self.bounds.high),
                             adam=(self.adam.beta1, self.adam.beta2, self.adam.eps), silence=tuple(silence),
                             bump=self.bump, steps=self.adam.steps, bump_now=self.bump_now)

    def after_epoch(self, state, stalls):
        """Take back a :meth:`flat_state` after a compiled epoch: Adam's steps, the bump, the network's parameters;
        ``stalls`` (per layer, how often its bump reached ``2**STALLED_BUMPS`` times its first value) warn as
        :meth:`bump_silent` does, once each."""
        self.adam.steps, self.bump_now = state.steps, state.bump_now
        self._realise()
        for layer, count in enumerate(stalls, start=1):
            for _ in range(count):
                _warn_stalled(layer, self.bump * 2.0 ** STALLED_BUMPS)

    def state(self):
        """Everything needed to continue bit-identically: ``weights``, ``free``, ``adam_steps``, ``adam_moments``
        (one pair per array of ``weights`` and ``free``, none before the first step), ``bump`` (the keyword
        arguments of :meth:`restore`)."""
        moments = list(zip(*(self._views(flat) for flat in self._moments))) if self.adam.steps else []
        return dict(weights=self.weights, free=self.free, adam_steps=self.adam.steps, adam_moments=moments,
                    bump=self.bump_now)

    def restore(self, weights, free, adam_steps, adam_moments, bump):
        """Continue from a :meth:`state`; the network gets the parameters it represents."""
        arrays = self._arrays(weights, free)
        self._shapes = [np.shape(a) for a in arrays]
        self._ends = np.cumsum([np.size(a) for a in arrays]).tolist()
        self._n_weights = self._ends[len(weights) - 1] if weights else 0
        self._flat = self._flatten(arrays)
        self._gradient = np.zeros_like(self._flat)
        self._gradient_views = self._views(self._gradient)
        views = self._views(self._flat)
        self._weights = views[:len(weights)]                  # what the network's weights are made from
        self.weights = list(self._weights)
        self.free, views = [], views[len(weights):]
        for layer in free:
            self.free.append(dict(zip(layer, views)))
            views = views[len(layer):]
        self._moments = tuple(self._flatten([pair[k] for pair in adam_moments]) if adam_moments
                              else np.zeros_like(self._flat) for k in (0, 1))
        self.bump_now = bump
        self.adam = Adam(steps=adam_steps, moments=[self._moments])
        self._rates_of = (None, None)                         # (learning rates, their array): see _rates
        # The delays become exactly what the free parameters represent (a change of an ulp at most),
        # so that a resumed run, which rebuilds them from the free parameters, is bit-identical.
        self._realise()

    def _arrays(self, weights, delays):
        """The arrays of a network's ``weights`` and of its per-layer ``delays`` (dicts), in the flat order."""
        return [*weights, *(d for layer in delays for d in layer.values())]

    def _flatten(self, arrays):
        """A new flat float64 array holding ``arrays`` (of the parameters' shapes), copied in one by one."""
        flat = np.empty(self._ends[-1] if self._ends else 0)
        _fill(self._views(flat), arrays)
        return flat

    def _views(self, flat, first=0):
        """The arrays of the flat order from the ``first``-th on, as views of ``flat`` (which holds those arrays
        only) shaped as the parameters."""
        offset = self._ends[first - 1] if first else 0
        return [flat[begin - offset:end - offset].reshape(shape)
                for begin, end, shape in zip(([0] + self._ends)[first:], self._ends[first:], self._shapes[first:])]

    def _rates(self, lr_weights, lr_delays):
        """The learning rate of every entry of the flat array: Adam takes all of them in one step (the numbers of
        a step per part, each rate times each entry as before, at half the NumPy calls)."""
        if self._rates_of[0] != (lr_weights, lr_delays):
            rates = np.empty_like(self._flat)
            for part, rate in zip(self._parts(rates), (lr_weights, lr_delays)):
                part[...] = rate
            self._rates_of = (lr_weights, lr_delays), rates
        return self._rates_of[1]

    def _parts(self, flat):
        """``flat``'s weights and free parameters, two views."""
        return [flat[:self._n_weights], flat[self._n_weights:]]

    def _realise(self):
        weights, free = self._parts(self._flat)
        if self.weight_limit is not None:
            np.clip(weights, -self.weight_limit, self.weight_limit, out=weights)
        self.net.weights = [quantize_weights(w, self.weight_step) for w in self._weights]
        realised = iter(self._views(self.bounds.to_delays(free), len(self._weights)))
        self.net.delays = [{p: np.where(used[p], next(realised), 0.0) for p in layer}
                           for layer, used in zip(self.free, self._used)]


def _warn_stalled(layer, bump):
    warnings.warn(f"missing-spike rule: {STALLED_BUMPS} batches in a row skipped without a step; the bump "
                  f"into the silent neurons of layer {layer} is now {bump:g} and keeps doubling. "
                  "Their inputs may be silent themselves (is hidden_silence too permissive?), or the "
                  "network too weak to fire: consider larger initial weights", RuntimeWarning, stacklevel=3)


def _fill(views, arrays):
    """Copy ``arrays`` into ``views`` (one each, of the same shapes); ``ValueError`` before anything is copied
    where they do not match."""
    if len(arrays) != len(views) or any(np.shape(a) != v.shape for a, v in zip(arrays, views)):
        raise ValueError(f"NetworkOptimiser: arrays of shapes {[np.shape(a) for a in arrays]} for parameters of "
                         f"shapes {[v.shape for v in views]}")
    for view, array in zip(views, arrays):
        view[...] = array


def step_decay(rate, epoch, factor, every):
    """Learning rate of 1-based ``epoch``: ``rate * factor ** ((epoch - 1) // every)``."""
    return rate * factor ** ((epoch - 1) // every)


def missing_spike_layer(spike_times, hidden_limit=0.3, output_limit=0.0, receiving=None):
    """The earliest layer with too many silent neurons in a batch, or ``None``.

    Parameters
    ----------
    spike_times : list of ndarray
        Spike times of every layer (input layer first), (batch, n) each.
    hidden_limit, output_limit : float
        Largest acceptable fraction of ``inf`` spike times in a hidden layer and
        in the output layer.
    receiving : list of ndarray of bool, optional
        Per non-input layer, ``(n,)``: the neurons that have inputs (in a
        sparse network some may have none; they cannot spike and are not
        counted). Default: all.

    Returns
    -------
    int or None
        Index into ``spike_times`` (1 = first hidden layer).
    """
    last = len(spike_times) - 1
    for layer in range(1, last + 1):
        limit = output_limit if layer == last else hidden_limit
        times = spike_times[layer]
        if receiving is not None and not receiving[layer - 1].all():
            times = times[:, receiving[layer - 1]]
        if times.size and np.count_nonzero(~np.isfinite(times)) / times.size > limit:
            return layer
    return None


def finite_or_zero(arrays):
    """Replace non-finite entries by 0 in place; return how many there were."""
    count = 0
    for array in arrays:
        bad = ~np.isfinite(array)
        if bad.any():
            count += int(bad.sum())
            array[bad] = 0.0
    return count


def quantize_weights(weights, step=None, limit=None):
    """Weights as a substrate with a weight grid realises them: clipped to ``+-limit``, rounded to ``step``.

    With both, the result stays within the largest grid value not above ``limit``.

    Parameters
    ----------
    weights : array_like of float, any shape
    step, limit : float or None
        ``None`` leaves that constraint out.

    Returns
    -------
    ndarray of float64, the shape of ``weights``
        A new array (the input is not changed).

    Examples
    --------
    >>> quantize_weights([0.05, -3.0], step=1/30, limit=2.1)
    array([ 0.06666667, -2.1       ])
    >>> quantize_weights([2.149], step=0.1, limit=2.15)
    array([2.1])
    """
    weights = np.array(weights, dtype=np.float64)
    if limit is not None:
        np.clip(weights, -limit, limit, out=weights)
    if step is not None:
        weights = np.round(weights / step) * step
        if limit is not None:
            top = np.floor(limit / step + 1e-9) * step
            np.clip(weights, -top, top, out=weights)
    return weights
