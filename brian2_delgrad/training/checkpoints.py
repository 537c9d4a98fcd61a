"""Training checkpoints: what a :class:`~brian2_delgrad.training.trainer.Trainer` needs to continue bit-identically.

A checkpoint is an archive of kind ``'checkpoint'`` (:mod:`~brian2_delgrad.utils.storage`):

arrays
    ``weights_<k>`` (the float shadow weights), ``free_<k>_<placement>`` (the
    delays' optimiser parameters), ``adam_m_<i>``, ``adam_v_<i>`` (Adam's
    moments), and ``best_weights_<k>``, ``best_delays_<k>_<placement>`` (the
    parameters of the best validation epoch, if any).
meta
    ``epoch``, ``adam_steps``, ``best`` (``[epoch, accuracy]`` or ``null``),
    ``bump`` (the missing-spike rule's current bump), ``rng`` (the shuffling
    generator's state), ``substrate`` (the substrate's noise state or
    ``null``), ``sizes``, ``placements``, ``delay_groups`` and ``connectivity``
    (which network it belongs to), ``settings`` (the training recipe) and ``history_rows`` (how many
    rows of the history log belong to it).

The history table lives beside it, in an append-only log (:func:`history_log`:
``checkpoint.npz`` -> ``checkpoint.npz.history.jsonl``, one JSON row per line, floats
written exactly): each epoch appends its rows and syncs them to disk before the
checkpoint is replaced, so a checkpoint's size and writing time do not grow with
the epochs. Rows beyond ``history_rows`` (an epoch whose checkpoint was never
written) are dropped on resume. Checkpoints from before the log hold the table
in their meta (``history``: column -> values) and are read as they are.
"""
import json
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.delays import groups_as_lists
from ..utils.storage import ArchiveError, ForeignArchive, read_archive, write_archive, write_text

__all__ = ["Checkpoint", "CheckpointError", "DamagedCheckpoint", "save_checkpoint", "load_checkpoint", "network_identity",
           "LARGEST_WEIGHT", "history_log"]

#: Largest weight magnitude a checkpoint may hold, in units of the threshold theta: one such input alone drives a
#: neuron a million times past threshold, which no training reaches (Adam moves a weight by about the learning rate
#: per step); more means the file is damaged.
LARGEST_WEIGHT = 1e6


class CheckpointError(ValueError):
    """A checkpoint cannot be read or belongs to another network, recipe or run."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint (or its history log) that cannot be read or holds impossible values: set aside, never resumed."""


@dataclass
class Checkpoint:
    """The state of a training run after an epoch.

    Attributes
    ----------
    epoch : int
    network : dict
        :func:`network_identity` of the trained network.
    settings : dict
        The training recipe as JSON values.
    weights : list of ndarray
        Shadow weights, ``(n_pre, n_post)`` per connection layer.
    free : list of dict
        Per connection layer, placement -> the delays' optimiser parameters.
    adam_steps : int
    adam_moments : list of tuple of ndarray
    best : tuple or None
        ``(epoch, accuracy, parameters)`` of the best validation epoch;
        ``parameters`` holds ``weights`` and ``delays``.
    bump : float
    rng : dict
        State of the shuffling generator.
    substrate : dict or None
        The substrate's ``random_state``.
    history : list of dict
        The history table's rows (column -> value), as the trainer keeps them.
    """

    epoch: int
    network: dict
    settings: dict
    weights: list
    free: list
    adam_steps: int
    adam_moments: list
    best: tuple
    bump: float
    rng: dict
    substrate: dict
    history: list

    def check(self, net, settings, epochs, path, state):
        """Raise :class:`CheckpointError` unless it continues training ``net`` with ``settings`` to ``epochs``.

        ``state`` is the optimiser's state as the trainer holds it now (``weights``, ``free``,
        ``adam_moments``): the checkpoint's arrays must have their number and shapes, and be finite.
        """
        if self.network != network_identity(net):
            raise CheckpointError(f"resume: checkpoint {path} belongs to another network")
        problem = self._damage(state, net.model.theta)
        if problem is not None:
            raise DamagedCheckpoint(f"resume: checkpoint {path} is damaged: {problem}")
        differ = sorted(k for k, v in self.settings.items() if settings.get(k) != v)
        if differ:
            raise CheckpointError(f"resume: checkpoint {path} was trained with other settings ({', '.join(differ)}); "
                                  "resume with the same Trainer settings")
        if self.epoch > epochs:
            raise CheckpointError(f"resume: checkpoint {path} holds {self.epoch} epochs, more than the "
                                  f"{epochs} asked for")

    def _damage(self, state, theta):
        """What is impossible in this checkpoint (str), or ``None``."""
        def counts(value):
            return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0

        if not counts(self.epoch) or not counts(self.adam_steps):
            return f"epoch {self.epoch!r} and Adam steps {self.adam_steps!r} must be counts"
        if not (isinstance(self.bump, numbers.Real) and math.isfinite(self.bump) and self.bump > 0):
            return f"the missing-spike bump {self.bump!r} must be a positive number"
        if not isinstance(self.settings, dict) or not (self.best is None or (
                isinstance(self.best, tuple) and len(self.best) == 3)):
            return "its settings or its best epoch are not what a checkpoint holds"
        shapes = (lambda arrays: [np.shape(a) for a in arrays])
        parameters = shapes([*state["weights"], *(f for layer in state["free"] for f in layer.values())])
        expected = dict(weights=shapes(state["weights"]),       # Adam's moments: one pair per parameter array
                        moments=[[s, s] for s in parameters] if self.adam_steps else [],
                        free=[{p: np.shape(f) for p, f in layer.items()} for layer in state["free"]])
        found = dict(weights=shapes(self.weights), moments=[shapes(pair) for pair in self.adam_moments],
                     free=[{p: np.shape(f) for p, f in layer.items()} for layer in self.free])
        for key in expected:
            if found[key] != expected[key]:
                return f"its {key} have the shapes {found[key]}, the network's are {expected[key]}"
        arrays = [*self.weights, *(f for layer in self.free for f in layer.values()),
                  *(a for pair in self.adam_moments for a in pair)]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            return "it holds infinite or NaN parameters"
        if any(np.any(np.abs(w) > LARGEST_WEIGHT * theta) for w in self.weights):
            return f"it holds weights beyond {LARGEST_WEIGHT:g} theta"
        if self.best is not None:
            best = self.best[2]
            if shapes(best["weights"]) != expected["weights"] or not all(
                    np.all(np.isfinite(a)) for a in [*best["weights"], *(d for layer in best["delays"]
                                                                        for d in layer.values())]):
                return "its best epoch's parameters do not fit the network or are not finite"
        return self._history_damage()

    def _history_damage(self):
        history = self.history
        if not isinstance(history, list) or not all(isinstance(row, dict) and {"epoch", "split"} <= set(row)
                                                    for row in history):
            return "its history is not a table with epoch and split columns"
        trained = [row["epoch"] for row in history if row["split"] == "train"]
        if trained != list(range(1, self.epoch + 1)):
            return f"its history's training epochs are not 1 ... {self.epoch}"
        if self.best is not None:
            epoch, accuracy = self.best[:2]
            if not (isinstance(epoch, numbers.Integral) and 0 <= epoch <= self.epoch
                    and isinstance(accuracy, numbers.Real) and 0 <= accuracy <= 1):
                return f"its best epoch {epoch!r} (accuracy {accuracy!r}) is not one of its epochs"
        return None


def network_identity(net):
    """What a checkpoint records of the network it belongs to (JSON values): sizes, placements, delay groups and,
    per connection layer, ``None`` (all synapses) or a digest of its connectivity."""
    return dict(sizes=list(net.sizes), placements=[list(p) for p in net.placements],
                delay_groups=groups_as_lists(net.delay_groups), connectivity=net.connectivity_digest())


def history_log(path):
    """The history log beside the checkpoint at ``path``: ``X.npz`` -> ``X.npz.history.jsonl`` (a Path; the
    whole name, so that ``run.seed1`` and ``run.seed2`` keep their own)."""
    path = Path(path)
    return path.with_name(f"{path.name}.history.jsonl")


def save_checkpoint(path, checkpoint, logged):
    """Append the history rows not logged yet, then write ``checkpoint`` to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
    checkpoint : Checkpoint
    logged : int
        How many of ``checkpoint.history`` the log beside ``path`` holds already; 0: the log is written anew,
        atomically (a checkpoint left there still finds its rows, the first ones of the new log, if the run
        stops before it is replaced).

    Returns
    -------
    int
        How many rows the log holds now (``len(checkpoint.history)``).
    """
    if logged:
        with open(history_log(path), "a") as log:
            log.writelines(json.dumps(row) + "\n" for row in checkpoint.history[logged:])
            log.flush()
            os.fsync(log.fileno())
    else:
        write_text(history_log(path), "".join(json.dumps(row) + "\n" for row in checkpoint.history))
    arrays = {f"weights_{k}": w for k, w in enumerate(checkpoint.weights)}
    arrays.update({f"free_{k}_{p}": f for k, layer in enumerate(checkpoint.free) for p, f in layer.items()})
    for i, (m, v) in enumerate(checkpoint.adam_moments):
        arrays[f"adam_m_{i}"], arrays[f"adam_v_{i}"] = m, v
    if checkpoint.best is not None:
        parameters = checkpoint.best[2]
        arrays.update({f"best_weights_{k}": w for k, w in enumerate(parameters["weights"])})
        arrays.update({f"best_delays_{k}_{p}": d for k, layer in enumerate(parameters["delays"])
                       for p, d in layer.items()})
    meta = dict(epoch=checkpoint.epoch, adam_steps=checkpoint.adam_steps,
                best=None if checkpoint.best is None else list(checkpoint.best[:2]), bump=checkpoint.bump,
                rng=checkpoint.rng, substrate=checkpoint.substrate, **checkpoint.network,
                settings=checkpoint.settings, history_rows=len(checkpoint.history))
    write_archive(path, "checkpoint", meta, arrays)
    return len(checkpoint.history)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (or by an earlier Trainer), with its history rows.

    Raises
    ------
    CheckpointError
        If it or its history log cannot be read; the message names the file.
    """
    try:
        meta, arrays = read_archive(path, "checkpoint")
        network = {key: meta[key] for key in ("sizes", "placements")}
        for key in ("delay_groups", "connectivity"):       # checkpoints from before tied delays / sparse networks
            network[key] = meta.get(key, [None] * (len(network["sizes"]) - 1))
        layers = range(len(network["sizes"]) - 1)
        free = [{p: arrays[f"free_{k}_{p}"] for p in network["placements"][k]} for k in layers]
        moments = [(arrays[f"adam_m_{i}"], arrays[f"adam_v_{i}"])
                   for i in range(sum(1 for key in arrays if key.startswith("adam_m_")))]
        best = None
        if meta["best"] is not None:
            best = (*meta["best"], dict(weights=[arrays[f"best_weights_{k}"] for k in layers],
                                        delays=[{p: arrays[f"best_delays_{k}_{p}"] for p in layer}
                                                for k, layer in enumerate(free)]))
        history = _read_history(path, meta)
        return Checkpoint(epoch=meta["epoch"], network=network, settings=meta.get("settings", {}),
                          weights=[arrays[f"weights_{k}"] for k in layers], free=free, adam_steps=meta["adam_steps"],
                          adam_moments=moments, best=best, bump=meta["bump"], rng=meta["rng"],
                          substrate=meta["substrate"], history=history)
    except ForeignArchive as err:                    # readable, but not ours to resume: refused, never set aside
        raise CheckpointError(f"resume: cannot resume checkpoint {path}: {err}") from None
    except ArchiveError as err:
        raise DamagedCheckpoint(f"resume: cannot read checkpoint {path}: {err}") from None
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise DamagedCheckpoint(f"resume: cannot read checkpoint {path}: it lacks {err}") from None


def _read_history(path, meta):
    """The history rows of a checkpoint: the first ``history_rows`` lines of its log (or, from before the log, the
    columns in its meta); a ``CheckpointError`` if the log is missing or too short."""
    if "history" in meta:
        columns = meta["history"]
        return [dict(zip(columns, values)) for values in zip(*columns.values())]
    count, log = meta["history_rows"], history_log(path)
    if not isinstance(count, int) or count < 0:
        raise DamagedCheckpoint(f"resume: checkpoint {path} is damaged: history_rows {count!r} must be a count")
    rows = []
    try:
        with open(log) as handle:
            for line in handle:
                if len(rows) == count:
                    break
                rows.append(json.loads(line))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedCheckpoint(f"resume: cannot read the history log {log} of checkpoint {path} ({err})") from None
    if len(rows) != count:
        raise DamagedCheckpoint(f"resume: the history log {log} holds {len(rows)} rows, its checkpoint {count}")
    return rows
