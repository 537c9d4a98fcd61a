"""Training checkpoints: what a :class:`~brian2_delgrad.training.Trainer` needs to continue bit-identically.

A checkpoint is an archive of kind ``'checkpoint'`` (:mod:`~brian2_delgrad.storage`):

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
    (which network it belongs to), ``settings`` (the training recipe) and ``history`` (the
    history table, column -> values).
"""
from dataclasses import dataclass

from .delays import groups_as_lists
from .storage import ArchiveError, read_archive, write_archive

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "network_identity"]


class CheckpointError(ValueError):
    """A checkpoint cannot be read or belongs to another network, recipe or run."""


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
    history : dict
        Column -> list of values.
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
    history: dict

    def check(self, net, settings, epochs, path):
        """Raise :class:`CheckpointError` unless it continues training ``net`` with ``settings`` to ``epochs``."""
        if self.network != network_identity(net):
            raise CheckpointError(f"resume: checkpoint {path} belongs to another network")
        differ = sorted(k for k, v in self.settings.items() if settings.get(k) != v)
        if differ:
            raise CheckpointError(f"resume: checkpoint {path} was trained with other settings ({', '.join(differ)}); "
                                  "resume with the same Trainer settings")
        if self.epoch > epochs:
            raise CheckpointError(f"resume: checkpoint {path} holds {self.epoch} epochs, more than the "
                                  f"{epochs} asked for")


def network_identity(net):
    """What a checkpoint records of the network it belongs to (JSON values): sizes, placements, delay groups and,
    per connection layer, ``None`` (all synapses) or a digest of its connectivity."""
    return dict(sizes=list(net.sizes), placements=[list(p) for p in net.placements],
                delay_groups=groups_as_lists(net.delay_groups), connectivity=net.connectivity_digest())


def save_checkpoint(path, checkpoint):
    """Write ``checkpoint`` to ``path`` atomically."""
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
                settings=checkpoint.settings, history=checkpoint.history)
    write_archive(path, "checkpoint", meta, arrays)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (or by a version-1 Trainer).

    Raises
    ------
    CheckpointError
        If it cannot be read; the message names the file.
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
        return Checkpoint(epoch=meta["epoch"], network=network, settings=meta.get("settings", {}),
                          weights=[arrays[f"weights_{k}"] for k in layers], free=free, adam_steps=meta["adam_steps"],
                          adam_moments=moments, best=best, bump=meta["bump"], rng=meta["rng"],
                          substrate=meta["substrate"], history=meta["history"])
    except ArchiveError as err:
        raise CheckpointError(f"resume: cannot read checkpoint {path}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"resume: cannot read checkpoint {path}: it lacks {err}") from None
