"""Time-to-first-spike losses with exact dL/dT, and the prediction rule.

A loss is called as ``loss(output_times, labels, tau_s)`` with output spike
times in seconds (``inf`` = silent), shape (batch, n_out), integer labels of
shape (batch,) and the synaptic time constant in seconds. It returns the loss
of every sample (batch,) and ``dL/dT`` (batch, n_out) in 1/second, 0 for
silent neurons. Inside, times are measured in units of ``tau_s``.

A sample whose label neuron is silent costs the constant ``silent_loss`` and
passes no gradient (the trainer's missing-spike rule deals with silence).

Sums over the output neurons run in index order: the compiled training step
(:mod:`~brian2_delgrad.exact.step_kernel`) computes the built-in losses with the
same operations (:func:`kernel_loss`).
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..exact.step_kernel import CROSS_ENTROPY, SHIFT_MSE
from ..utils.checks import labels_array, positive_time, times_in_seconds
from ..utils.registry import Registry
from ..utils.settings import Setting, check_settings

__all__ = ["ShiftInvariantMSE", "TTFSCrossEntropy", "predict_labels", "LOSSES", "register_loss", "kernel_loss"]


_SILENT_LOSS = Setting("silent_loss", "number", low=0, doc="loss of a sample whose label neuron is silent", default=1.0)
_MARGIN = Setting("margin", "number", low=0, low_open=True, unit="tau_s", doc="desired lead of the label neuron",
                  default=0.2)
_XI = Setting("xi", "number", low=0, low_open=True, unit="tau_s", doc="softmax temperature", default=0.2)
_ALPHA = Setting("alpha", "number", low=0, doc="weight of the regulariser", default=0.005)
_BETA = Setting("beta", "number", low=0, low_open=True, unit="tau_s", doc="time scale of the regulariser", default=1.0)


@dataclass(frozen=True)
class ShiftInvariantMSE:
    """Shift-invariant mean squared error of the DelGrad Yin-Yang networks.

    ``L = 1/2 sum_k ((t_k - t_label) - D_k)^2`` with ``D_k = margin`` for
    ``k != label`` and 0 for the label, times in units of ``tau_s``: the label
    neuron should fire ``margin`` before the others, whatever the absolute
    time. A silent non-label neuron is as late as wanted and contributes 0.

    Parameters
    ----------
    margin : float
        Desired lead of the label neuron, in units of ``tau_s`` (default 0.2).
    silent_loss : float
        Loss of a sample whose label neuron is silent.
    """

    margin: float = _MARGIN.default
    silent_loss: float = _SILENT_LOSS.default

    #: The settings, declared once for the constructor and model files (``[loss]``).
    SETTINGS: ClassVar[tuple] = (_MARGIN, _SILENT_LOSS)

    def __post_init__(self):
        _check_settings(self)

    def __call__(self, output_times, labels, tau_s):
        """Loss per sample and ``dL/dT``.

        Parameters
        ----------
        output_times : Quantity or array_like, shape (batch, n_out)
            Output spike times (seconds if plain numbers), ``inf`` = silent.
        labels : array_like of int, shape (batch,)
        tau_s : Quantity or float
            Synaptic time constant (seconds if a plain number).

        Returns
        -------
        loss : ndarray, shape (batch,)
        dL_dT : ndarray, shape (batch, n_out)
            In 1/second; 0 for silent neurons.
        """
        t, labels, rows, label_time, label_silent = _prepare(output_times, labels, tau_s)
        target = label_time[:, None] + np.where(np.arange(t.shape[1])[None] == labels[:, None], 0.0, self.margin)
        with np.errstate(invalid="ignore"):
            error = np.where(np.isfinite(t), t - target, 0.0)
        error[label_silent] = 0.0
        grad = error.copy()
        grad[rows, labels] -= _row_sums(error)         # t_label enters every other term
        loss = np.where(label_silent, self.silent_loss, 0.5 * _row_sums(error * error))
        return loss, grad / tau_s


@dataclass(frozen=True)
class TTFSCrossEntropy:
    """Cross-entropy of ``softmax(-t / xi)`` plus ``alpha * exp(t_label / beta)`` (Fast & Deep).

    Times, ``xi`` and ``beta`` in units of ``tau_s``. Silent neurons have
    probability 0.

    Parameters
    ----------
    xi : float
        Softmax temperature (default 0.2).
    alpha, beta : float
        Weight and time scale of the regulariser that pushes the label neuron
        to fire early (defaults 0.005 and 1).
    silent_loss : float
        Loss of a sample whose label neuron is silent.
    """

    xi: float = _XI.default
    alpha: float = _ALPHA.default
    beta: float = _BETA.default
    silent_loss: float = _SILENT_LOSS.default

    #: The settings, declared once for the constructor and model files (``[loss]``).
    SETTINGS: ClassVar[tuple] = (_XI, _ALPHA, _BETA, _SILENT_LOSS)

    def __post_init__(self):
        _check_settings(self)

    def __call__(self, output_times, labels, tau_s):
        """Loss per sample and ``dL/dT``.

        Parameters
        ----------
        output_times : Quantity or array_like, shape (batch, n_out)
            Output spike times (seconds if plain numbers), ``inf`` = silent.
        labels : array_like of int, shape (batch,)
            Index of the output neuron that should fire first.
        tau_s : Quantity or float
            Synaptic time constant (seconds if a plain number).

        Returns
        -------
        loss : ndarray of float64, shape (batch,)
            Dimensionless.
        dL_dT : ndarray of float64, shape (batch, n_out)
            In 1/second; 0 for silent neurons.
        """
        t, labels, rows, label_time, label_silent = _prepare(output_times, labels, tau_s)
        safe_label = np.where(label_silent, 0.0, label_time)
        scaled = -(t - safe_label[:, None]) / self.xi          # label at 0; silent -> -inf
        top = np.max(np.where(np.isfinite(scaled), scaled, -np.inf), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        weights = np.exp(scaled - top)
        total = _row_sums(weights)                     # 0 only where every output is silent (so the label) ...
        with np.errstate(divide="ignore", invalid="ignore"):     # ... a row replaced below: no warning
            probabilities = weights / total[:, None]
            log_total = np.log(total)
        regulariser = self.alpha * np.exp(safe_label / self.beta)
        grad = -probabilities / self.xi
        grad[rows, labels] += 1 / self.xi + regulariser / self.beta
        loss = top[:, 0] + log_total + regulariser                      # -log p_label (label at 0)
        grad[label_silent] = 0.0
        return np.where(label_silent, self.silent_loss, loss), grad / tau_s


def _check_loss(name, cls):
    """A loss's contract: a class with a ``SETTINGS`` tuple of Setting."""
    if not (isinstance(cls, type) and callable(cls) and isinstance(getattr(cls, "SETTINGS", None), tuple)
            and all(isinstance(s, Setting) for s in cls.SETTINGS)):
        raise ValueError(f"loss {name!r}: {cls!r} must be a class with a SETTINGS tuple of Setting")


#: Losses by the names used in model files (``[loss] name``).
LOSSES = Registry("loss", _check_loss)
LOSSES.register("shift_mse", ShiftInvariantMSE)
LOSSES.register("cross_entropy", TTFSCrossEntropy)


def register_loss(name, cls, replace=False):
    """Make a loss class available to model files as ``[loss] name = "<name>"``.

    Parameters
    ----------
    name : str
        An identifier, the ``[loss] name`` of model files.
    cls : type
        Called with its declared settings as keyword arguments, its instances as
        ``loss(output_times, labels, tau_s) -> (loss per sample, dL/dT)`` (see the
        module docstring); ``cls.SETTINGS`` (a tuple of
        :class:`~brian2_delgrad.utils.settings.Setting`) declares the keys a model file may set.
    replace : bool
        Replace a loss registered under ``name`` (otherwise that is an error).
    """
    LOSSES.register(name, cls, replace=replace)


def predict_labels(output_times):
    """The earliest-firing output neuron of each sample; -1 if all are silent (counts as wrong).

    Parameters
    ----------
    output_times : array_like of float, shape (batch, n_out)
        Output spike times in seconds, ``inf`` = no spike.

    Returns
    -------
    ndarray of int64, shape (batch,)
        The index of the earliest output spike per sample (the lowest index
        of equals), -1 where there is none.
    """
    output_times = np.asarray(output_times, dtype=np.float64)
    winner = np.argmin(output_times, axis=1)
    return np.where(np.isfinite(output_times).any(axis=1), winner, -1)


def kernel_loss(loss):
    """``loss`` as the compiled training step computes it, or ``None`` where it cannot.

    Parameters
    ----------
    loss : object
        A loss; only the built-in classes themselves (not subclasses, which may compute otherwise) have a
        compiled form.

    Returns
    -------
    tuple or None
        ``(code, parameters)``: a loss code of :mod:`~brian2_delgrad.exact.step_kernel` and the loss's
        parameters as float64 (times in units of tau_s).
    """
    if type(loss) is ShiftInvariantMSE:
        return SHIFT_MSE, np.array([loss.margin, loss.silent_loss])
    if type(loss) is TTFSCrossEntropy:
        return CROSS_ENTROPY, np.array([loss.xi, loss.alpha, loss.beta, loss.silent_loss])
    return None


def _row_sums(values):
    """Sums of the rows of a (batch, n) array, adding the columns in index order (as the compiled step)."""
    total = values[:, 0].copy()
    for k in range(1, values.shape[1]):
        total += values[:, k]
    return total


def _check_settings(loss):
    """Every declared field of a loss checked and stored in canonical form."""
    for name, value in check_settings(loss.SETTINGS, vars(loss), f"{type(loss).__name__}: ").items():
        object.__setattr__(loss, name, value)


def _prepare(output_times, labels, tau_s):
    tau_s = positive_time(tau_s, "tau_s")
    t = times_in_seconds(output_times, "output_times", (None, None), allow_inf=True) / tau_s
    labels = labels_array(labels, "labels", t.shape[0], t.shape[1])
    rows = np.arange(t.shape[0])
    label_time = t[rows, labels]
    return t, labels, rows, label_time, ~np.isfinite(label_time)
