"""Trainer: minibatch training of a DelayNetwork on spike times, with checkpoints and resume."""
import dataclasses
import numbers
import time

import numpy as np
import pandas as pd

from ..core.delays import DELAY_RANGE, delay_range_in_seconds
from ..core.network import check_network
from ..exact.gradients import MAX_WEIGHT_GRADIENT, backward
from ..substrates import ExactSubstrate, Substrate
from ..substrates.noise import BATCH_SIZE
from ..utils.checks import labels_array, seed_value, times_in_seconds
from ..utils.memory import check_training
from ..utils.settings import Setting, check_settings, takes_settings
from .checkpoints import Checkpoint, load_checkpoint, network_identity, save_checkpoint
from .losses import ShiftInvariantMSE, kernel_loss, predict_labels
from .optim import DELAY_BOUNDS_SETTING, NetworkOptimiser, delay_bounds as make_delay_bounds, missing_spike_layer, \
    step_decay

__all__ = ["Trainer"]



#: The number of epochs of :meth:`Trainer.fit` (and of model and study files).
#: Most epochs one training may ask for: a million Yin-Yang epochs take about a day; more is a typo.
MAX_EPOCHS = 1_000_000
EPOCHS = Setting("epochs", "integer", low=0, high=MAX_EPOCHS, doc="epochs to train in total", default=300)


class Trainer:
    """Train weights and delays of a :class:`~brian2_delgrad.core.network.DelayNetwork` with exact gradients.

    The forward pass runs on ``substrate`` (exact, Brian2, noisy ...); the
    backward pass takes the recorded spike times only. Configuration lives in
    the constructor, learning in :meth:`fit`, as in scikit-learn.

    Parameters
    ----------
    net : DelayNetwork
        Trained in place.
    substrate : object, optional
        Anything with ``run(net, input_times) -> list of spike-time arrays``
        (default :class:`~brian2_delgrad.substrates.ExactSubstrate`). The
        backward pass runs on as many threads as its ``threads`` attribute
        says (:mod:`~brian2_delgrad.utils.threads`; default every core). With
        a built-in loss, a substrate that has a training step in one call
        (:meth:`~brian2_delgrad.substrates.base.Substrate.step`: the exact one
        without noise between layers) runs each batch's forward pass, loss and
        backward pass in that call, with the same numbers. :meth:`fit`
        refuses training that would not fit in the machine's available memory
        (:class:`~brian2_delgrad.utils.memory.MemoryLimitError`, a ``ValueError``).
    loss : callable, optional
        ``loss(output_times, labels, tau_s) -> (loss per sample, dL/dT)``
        (default :class:`~brian2_delgrad.training.losses.ShiftInvariantMSE`).
    lr_weights, lr_delays : float
        Adam learning rates of weights and of the delays' optimiser parameters.
    batch_size : int
        Samples per minibatch.
    lr_decay, decay_every : float, int
        Learning rates are multiplied by ``lr_decay`` every ``decay_every`` epochs.
    delay_bounds : {'sigmoid', 'clip'}
        How delays stay in ``delay_range`` (see :class:`~brian2_delgrad.training.optim.DelayBounds`).
    delay_range : tuple of Quantity, optional
        ``(low, high)``; default ``(0, tau_s)``.
    hidden_silence, output_silence : float
        Missing-spike rule: a batch in which more than these fractions of
        hidden / output spike times are missing is not used for a step;
        instead ``bump`` (doubling while it repeats) is added to the weights
        into the silent neurons of the earliest such layer.
    bump : float
        First weight bump of the missing-spike rule (dimensionless weight).
    max_weight_gradient : float or None
        Per-sample grazing guard of :func:`~brian2_delgrad.exact.gradients.backward`
        (0.2 in the published recipe).
    weight_step, weight_limit : float or None
        A substrate's weight grid (e.g. from a
        :class:`~brian2_delgrad.substrates.profiles.HardwareProfile`): float "shadow"
        weights take the optimiser steps and are clipped to ``+-weight_limit``
        after each; the network (forward and backward pass) holds them rounded
        to multiples of ``weight_step``. ``None``: no such constraint. The
        network's weights are put on the grid when the Trainer is made.
    keep_best : bool
        With validation data, end :meth:`fit` with the parameters of the
        trained epoch (1, 2, ...) of highest validation accuracy (the latest of
        equals), i.e. model selection on the validation split; ``False`` keeps
        the last epoch's.
    seed : int
        Seed of the shuffling.
    progress : bool
        Show a progress bar over epochs.

    Attributes
    ----------
    history_ : pandas.DataFrame
        One row per epoch and split (see :meth:`fit`).
    epoch_ : int
        Epochs trained so far.
    best_epoch_ : int or None
        Epoch of the highest validation accuracy.
    last_parameters_ : dict
        ``weights`` and ``delays`` after the last epoch (whatever ``keep_best`` chose).
    best_parameters_ : dict or None
        ``weights`` and ``delays`` of the epoch of highest validation accuracy
        (whatever ``keep_best`` chose; ``None`` without validation data).
    """

    #: The settings, declared once for the constructor, checkpoints and model files (``[training]``, and
    #: ``delay_bounds``, ``delay_range`` in ``[network]``).
    SETTINGS = (
        Setting("lr_weights", "number", low=0, low_open=True, doc="Adam learning rate of the weights",
                default=0.01),
        Setting("lr_delays", "number", low=0, low_open=True, doc="Adam learning rate of the delays' parameters",
                default=0.003),
        BATCH_SIZE.with_default(150),
        Setting("lr_decay", "number", low=0, high=1, low_open=True, doc="factor of the rates every decay_every epochs",
                default=0.95),
        Setting("decay_every", "integer", low=1, doc="epochs between learning-rate decays", default=20),
        DELAY_BOUNDS_SETTING,
        DELAY_RANGE,
        Setting("hidden_silence", "number", low=0, high=1, doc="largest fraction of silent hidden spikes in a batch",
                default=0.3),
        Setting("output_silence", "number", low=0, high=1, doc="largest fraction of silent output spikes in a batch",
                default=0.0),
        Setting("bump", "number", low=0, low_open=True, doc="first weight bump of the missing-spike rule",
                default=5e-4),
        MAX_WEIGHT_GRADIENT,
        Setting("weight_step", "number", low=0, low_open=True, optional=True, doc="weight grid", default=None),
        Setting("weight_limit", "number", low=0, low_open=True, optional=True, doc="largest weight magnitude",
                default=None),
        Setting("keep_best", "boolean", doc="end with the best validation epoch's parameters", default=True),
        Setting("progress", "boolean", doc="show a progress bar", default=True),
    )

    @takes_settings(SETTINGS)
    def __init__(self, net, substrate=None, loss=None, lr_weights=..., lr_delays=..., batch_size=...,
                 lr_decay=..., decay_every=..., delay_bounds=..., delay_range=...,
                 hidden_silence=..., output_silence=..., bump=..., max_weight_gradient=..., weight_step=...,
                 weight_limit=..., keep_best=..., seed=0, progress=...):
        self.net = check_network(net)
        self.substrate = ExactSubstrate() if substrate is None else substrate
        if not isinstance(self.substrate, Substrate):
            raise ValueError(f"substrate must be a Substrate (e.g. ExactSubstrate(); subclass Substrate for one of "
                             f"your own), got {substrate!r}")
        self.loss = ShiftInvariantMSE() if loss is None else loss
        if isinstance(self.loss, type) or not callable(self.loss):
            raise ValueError(f"loss must be a loss object such as ShiftInvariantMSE(), got {loss!r}")
        for name, value in check_settings(self.SETTINGS, locals()).items():    # the arguments of the same names
            setattr(self, name, value)
        tau_s = net.model.tau_s_
        self.delay_range = low, high = delay_range_in_seconds(self.delay_range, tau_s)
        for k, layer in enumerate(net.delays):
            for p, used in net.used_delays(k).items():
                d = layer[p][used]                     # values that delay no synapse are 0 and never trained
                if np.any(d < low) or np.any(d > high):
                    raise ValueError(f"delay_range: delays[{k}][{p!r}] lie in [{d.min():g}, {d.max():g}] s, "
                                     f"outside ({low:g}, {high:g}) s; give the range the network was made with")
        self.bounds = make_delay_bounds(self.delay_bounds, low, high, tau_s)
        self.seed = seed_value(seed, "seed")
        self._reset()

    @property
    def history_(self):
        """One row per epoch and split (see :meth:`fit`), a pandas.DataFrame."""
        if len(self._history) != len(self._rows):  # made once per look, not once per epoch
            self._history = pd.DataFrame(self._rows)
        return self._history

    def _reset(self):
        self._history, self._rows = pd.DataFrame(), []
        self._logged = (None, 0)                       # (checkpoint path, rows its history log holds)
        self.epoch_ = 0
        self._rng = np.random.default_rng(self.seed)
        self.best_epoch_, self._best = None, None
        self._optimiser = NetworkOptimiser(self.net, self.bounds, self.bump, self.weight_step, self.weight_limit)

    # -- public API -------------------------------------------------------------------------------

    @takes_settings(EPOCHS)
    def fit(self, X, y, validation=None, epochs=..., checkpoint=None, resume=None):
        """Train for ``epochs`` epochs in total (counting those of a resumed run).

        Parameters
        ----------
        X : Quantity or array_like, shape (n_samples, n_in)
            Input spike times (seconds if plain numbers).
        y : array_like of int, shape (n_samples,)
            Labels: index of the output neuron that should fire first.
        validation : tuple, optional
            ``(X_val, y_val)``, shaped as ``X`` and ``y``, evaluated after every epoch.
        epochs : int
            Epochs in total, those of a resumed run included.
        checkpoint : str or Path, optional
            File written atomically after every epoch.
        resume : str or Path, optional
            Checkpoint to continue from (and to keep writing, unless
            ``checkpoint`` names another file). On the exact substrate a
            resumed run ends with bit-identical parameters, with or without
            noise (the substrate's noise state is part of the checkpoint).

        Returns
        -------
        pandas.DataFrame
            The history: one row per epoch and split (``'train'``,
            ``'validation'``; epoch 0 is the untrained network) with
            ``loss`` (mean over samples), ``accuracy``, ``silent_<k>`` (fraction
            of silent neurons in layer ``k``), ``skipped`` (batches skipped by
            the missing-spike rule), ``guarded`` (sample-neuron errors dropped
            by the grazing guard), ``nonfinite`` (gradient entries zeroed),
            ``lr_weights``, ``lr_delays`` and ``wall_time`` (seconds of the
            epoch). Train metrics are averaged over the epoch's minibatches,
            before their updates.
        """
        X, y = self._check_data(X, y, "X", "y")
        if validation is not None:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise ValueError("validation must be a pair (X_val, y_val)")
            validation = self._check_data(*validation, "validation[0]", "validation[1]")
        epochs = EPOCHS.check(epochs)
        check_training(self.net.sizes, min(self.batch_size, max(len(y), 1)),
                       bool(self.substrate.noise.delay_jitter))
        if resume is not None:
            self._load(resume, epochs)
            checkpoint = resume if checkpoint is None else checkpoint
        else:
            self._reset()
            if validation is not None:
                self._record(self._evaluate(*validation, "validation", 0, 0.0))
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=min(self.epoch_, epochs), disable=not self.progress, desc="training",
                   unit="epoch")
        while self.epoch_ < epochs:
            start = time.perf_counter()
            train = self._train_epoch(X, y)
            rows = [train]
            if validation is not None:
                rows.append(self._evaluate(*validation, "validation", self.epoch_, 0.0))
            elapsed = time.perf_counter() - start
            for row in rows:
                row["wall_time"] = elapsed
                self._record(row)
            if validation is not None and (self._best is None or rows[-1]["accuracy"] >= self._best[0]):
                self._best = (rows[-1]["accuracy"], _snapshot(self.net))
                self.best_epoch_ = self.epoch_
            if checkpoint is not None:
                self._save(checkpoint)
            bar.update(1)
            bar.set_postfix(acc=f"{rows[-1]['accuracy']:.3f}", loss=f"{rows[-1]['loss']:.4f}")
        bar.close()
        self.last_parameters_ = _snapshot(self.net)
        self.best_parameters_ = None if self._best is None else _snapshot(self._best[1])
        if self.keep_best and self._best is not None:
            self.net.weights, self.net.delays = (_snapshot(self._best[1])[k] for k in ("weights", "delays"))
        return self.history_

    def selected_networks(self):
        """The network after :meth:`fit` at its last epoch and at its best validation epoch.

        Returns
        -------
        dict
            ``'last'`` and ``'best'`` -> ``(epoch, DelayNetwork)``, independent copies; without
            validation data (or epochs) the best is the last.
        """
        if not hasattr(self, "last_parameters_"):
            raise ValueError("selected_networks: the Trainer has not been fitted yet (call fit first)")
        best = (self.best_epoch_, self.best_parameters_) if self.best_parameters_ is not None else \
            (self.epoch_, self.last_parameters_)
        networks = {}
        for selection, (epoch, parameters) in dict(last=(self.epoch_, self.last_parameters_), best=best).items():
            networks[selection] = (epoch, self.net.copy())
            networks[selection][1].set_parameters(**parameters)
        return networks

    def predict(self, X):
        """Predicted labels: the earliest output spike, -1 if all outputs are silent.

        Parameters
        ----------
        X : Quantity or array_like, shape (n_samples, n_in)
            Input spike times (seconds if plain numbers), ``inf`` = no spike.

        Returns
        -------
        ndarray of int64, shape (n_samples,)
            The index of the output neuron that fired first; -1 for a sample without output spike.
        """
        X = times_in_seconds(X, "X", (None, self.net.sizes[0]), allow_inf=True)
        return predict_labels(self.substrate.run(self.net, X)[-1])

    def score(self, X, y):
        """Accuracy (fraction in [0, 1]) on ``(X, y)``; a sample without output spike counts as wrong.

        Parameters
        ----------
        X : Quantity or array_like, shape (n_samples, n_in)
            Input spike times (seconds if plain numbers).
        y : array_like of int, shape (n_samples,)
            Labels.

        Returns
        -------
        float
            The fraction of samples whose :meth:`predict` equals ``y``.
        """
        X, y = self._check_data(X, y, "X", "y")
        return float(np.mean(self.predict(X) == y))

    # -- one epoch ---------------------------------------------------------------------------------

    def _train_epoch(self, X, y):
        self.epoch_ += 1
        lr_w = step_decay(self.lr_weights, self.epoch_, self.lr_decay, self.decay_every)
        lr_d = step_decay(self.lr_delays, self.epoch_, self.lr_decay, self.decay_every)
        order = self._rng.permutation(len(y))
        loss = kernel_loss(self.loss)                  # a built-in loss: compiled calls, if the substrate has them
        limit = np.inf if self.max_weight_gradient is None else self.max_weight_gradient
        state = None if loss is None else self._optimiser.flat_state(lr_w, lr_d, (self.hidden_silence,
                                                                                 self.output_silence))
        epoch = None if state is None else self.substrate.epoch(self.net, X, y, order, self.batch_size, loss, limit,
                                                                 state)
        if epoch is None:
            totals, silent = self._train_batches(X, y, order, loss, limit, lr_w, lr_d)
        else:                                          # the whole epoch in one compiled call, the same numbers
            sums, silent, stalls = epoch
            self._optimiser.after_epoch(state, stalls)
            totals = dict(loss=sums[0], correct=int(sums[1]), skipped=int(sums[2]), guarded=int(sums[3]),
                          nonfinite=int(sums[4]))
        n = len(y)
        return self._row("train", self.epoch_, totals["loss"] / n, totals["correct"] / n, silent / n,
                         skipped=totals["skipped"], guarded=totals["guarded"], nonfinite=totals["nonfinite"],
                         lr_weights=lr_w, lr_delays=lr_d)

    def _train_batches(self, X, y, order, loss, limit, lr_w, lr_d):
        """The minibatches of ``order`` one by one: their sums (loss, correct, skipped, guarded, nonfinite) and the
        sum over batches of each layer's fraction of silent spike times per sample."""
        net, tau = self.net, self.net.model.tau_s_
        receiving = [mask.any(axis=0) for mask in net.connectivity]   # a neuron without inputs cannot spike
        totals = dict(loss=0.0, correct=0, skipped=0, guarded=0, nonfinite=0)
        silent = np.zeros(len(net.sizes) - 1)
        for begin in range(0, len(y), self.batch_size):
            batch = order[begin:begin + self.batch_size]
            labels = y[batch]
            step = None if loss is None else self.substrate.step(net, X[batch], labels, loss, limit)
            if step is None:
                times = self.substrate.run(net, X[batch])
                losses, dL_dT = self.loss(times[-1], labels, tau)
                correct, grads = predict_labels(times[-1]) == labels, None
            else:                                      # the gradients too, used unless the batch is skipped
                times, losses, correct, grads = step
            totals["loss"] += losses.sum()
            totals["correct"] += int(correct.sum())
            silent += [np.sum(~np.isfinite(t)) / t.shape[1] for t in times[1:]]
            layer = missing_spike_layer(times, self.hidden_silence, self.output_silence, receiving)
            if layer is not None:
                self._optimiser.bump_silent(layer, ~np.isfinite(times[layer]).all(axis=0))
                totals["skipped"] += 1
                continue
            if grads is None:
                grads = backward(net, times, dL_dT, max_weight_gradient=self.max_weight_gradient,
                                 threads=self.substrate.threads)
            totals["guarded"] += grads.guarded
            totals["nonfinite"] += self._optimiser.step(grads, lr_w, lr_d)
        return totals, silent

    def _evaluate(self, X, y, split, epoch, wall_time):
        times = self.substrate.run(self.net, X)
        losses, _ = self.loss(times[-1], y, self.net.model.tau_s_)
        correct = predict_labels(times[-1]) == y
        silent = [np.mean(~np.isfinite(t)) for t in times[1:]]
        return self._row(split, epoch, float(losses.mean()), float(correct.mean()), np.array(silent),
                         wall_time=wall_time)

    def _row(self, split, epoch, loss, accuracy, silent, **extra):
        row = dict(epoch=epoch, split=split, loss=float(loss), accuracy=float(accuracy))
        row.update({f"silent_{k + 1}": float(s) for k, s in enumerate(silent)})
        row.update(extra)
        return row

    def _record(self, row):
        self._rows.append(row)

    def _check_data(self, X, y, x_name, y_name):
        X = times_in_seconds(X, x_name, (None, self.net.sizes[0]), allow_inf=True)
        return X, labels_array(y, y_name, X.shape[0], self.net.sizes[-1])

    # -- checkpoints -------------------------------------------------------------------------------

    def _settings(self):
        """The training recipe, as JSON values (a resumed run must use the same)."""
        recipe = {setting.name: getattr(self, setting.name) for setting in self.SETTINGS if setting.name != "progress"}
        recipe["delay_range"] = list(recipe["delay_range"])
        return dict(recipe, seed=self.seed if self.seed is None or isinstance(self.seed, int) else repr(self.seed),
                    loss=_describe(self.loss))

    def _save(self, path):
        """Write everything needed to continue bit-identically (:mod:`~brian2_delgrad.training.checkpoints`)."""
        best = None if self._best is None else (self.best_epoch_, self._best[0], self._best[1])
        logged = self._logged[1] if self._logged[0] == str(path) else 0     # another path: a log of its own
        self._logged = str(path), save_checkpoint(path, Checkpoint(
            epoch=self.epoch_, network=network_identity(self.net), settings=self._settings(),
            **self._optimiser.state(), best=best, rng=self._rng.bit_generator.state,
            substrate=self.substrate.random_state, history=self._rows), logged)

    def _load(self, path, epochs):
        """Continue from the checkpoint at ``path``; refused, with nothing changed, if it belongs to another
        network, was trained with other settings or holds more than ``epochs`` epochs."""
        checkpoint = load_checkpoint(path)
        checkpoint.check(self.net, self._settings(), epochs, path, self._optimiser.state())
        self._reset()
        self._optimiser.restore(**{key: getattr(checkpoint, key) for key in self._optimiser.state()})
        self._rng.bit_generator.state = checkpoint.rng
        if checkpoint.substrate is not None:
            self.substrate.random_state = checkpoint.substrate
        self.epoch_ = checkpoint.epoch
        self._history, self._rows = pd.DataFrame(), checkpoint.history      # (_reset: the next log is written anew)
        if checkpoint.best is not None:
            self.best_epoch_, accuracy, parameters = checkpoint.best
            self._best = (accuracy, parameters)


def _describe(loss):
    """A loss as JSON: its class and, for a dataclass, its fields as floats where they are numbers."""
    if not dataclasses.is_dataclass(loss):
        return type(loss).__qualname__
    fields = {k: float(v) if isinstance(v, numbers.Real) else repr(v)
              for k, v in dataclasses.asdict(loss).items()}
    return [type(loss).__qualname__, fields]


def _snapshot(parameters):
    """Copies of the ``weights`` and ``delays`` of a network, or of such a snapshot (dict)."""
    weights, delays = ((parameters.weights, parameters.delays) if hasattr(parameters, "weights")
                       else (parameters["weights"], parameters["delays"]))
    return dict(weights=[w.copy() for w in weights], delays=[{p: d.copy() for p, d in layer.items()}
                                                            for layer in delays])
