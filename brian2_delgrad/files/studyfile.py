"""Study descriptions in ``studies/*.toml``: which models, which grid, which noise, read strictly.

A study file names model files (relative to itself), optionally a grid of
hidden-layer sizes, the seeds, noise to train under and noise to evaluate
under; :func:`load_study` expands it into :class:`Trial` objects, one
training each. Same rules as model files: data, never code, and every
problem is a :class:`~brian2_delgrad.files.toml.ConfigError` naming the file and
the field. See ``studies/quickstart.toml`` for a commented example.
"""
import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..core.delays import parse_placements, placement_label
from ..substrates import SUBSTRATES
from ..substrates.noise import NOISE_KINDS, TRAIN_NOISE
from ..training.trainer import EPOCHS
from ..utils.settings import Setting
from .modelfile import load_model_file
from .toml import ConfigError, find_file, read_toml

__all__ = ["Study", "Trial", "Evaluation", "load_study", "make_trial", "placement_name", "MAX_TRIALS"]

#: Most trials one study file may expand into (a grid beyond it is refused before anything is expanded).
MAX_TRIALS = 10_000



@dataclass(frozen=True)
class Evaluation:
    """Test-set evaluation of every trained network under noise.

    Attributes
    ----------
    levels : dict
        ``{kind: levels}`` with kinds from :data:`~brian2_delgrad.substrates.noise.NOISE_KINDS`: spike and delay jitter
        in units of ``tau_s``, threshold and membrane noise in units of ``theta``
        (standard deviations), on top of the profile's own noise.
    repeats : int
        Noise draws per level; the accuracy is their mean.
    target : str
        Brian2 code-generation target for membrane noise (the exact substrate
        has none), ``'numpy'`` or ``'cython'``.
    dt : float
        Brian2 time step, seconds.
    """

    levels: dict
    repeats: int = 3
    target: str = "cython"
    dt: float = 10e-6


@dataclass(frozen=True)
class Trial:
    """One training of a study: a model file's network and recipe at one grid point.

    :func:`~brian2_delgrad.load_study` makes them; :func:`~brian2_delgrad.experiments.trial.run_trial` runs one.

    Parameters
    ----------
    id : str
        Unique and stable: readable grid values plus a hash of everything the
        trained network depends on (not the evaluation, see ``evaluation_id``).
    model_file : ModelFile
        With the grid's hidden size applied (its ``model`` is the neurons' :class:`~brian2_delgrad.LIFModel`).
    columns : dict
        The configuration as table columns: grid values, the network and
        the recipe (the runner puts them in front of every result row).
    seed : int
        Seed of the network's initialisation, the shuffling and the substrate's noise.
    epochs : int
        Epochs to train (the grid's ``epochs``, else the model file's).
    train_noise : dict
        ``spike_jitter``, ``delay_jitter`` (units of ``tau_s``) and ``threshold_noise`` (units of ``theta``)
        during training, on top of the profile's own noise.
    evaluation : Evaluation or None
        The study's ``[evaluate]`` settings (``None``: tested clean only, under the profile's own noise).
    """

    id: str
    model_file: object
    columns: dict
    seed: int
    epochs: int
    train_noise: dict
    evaluation: Evaluation = None

    @property
    def evaluation_id(self):
        """A short hash of the evaluation settings: test rows made with other settings are out of date (str).

        ``'e'`` and 10 hex digits, never a number (tables read back from CSV keep it a string).
        """
        return "e" + hashlib.sha256(repr(self.evaluation).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Study:
    """A parsed study file, as :func:`~brian2_delgrad.load_study` returns it.

    Parameters
    ----------
    name : str
        The file's stem.
    description : str
        The file's ``description`` (default ``''``).
    path : pathlib.Path
        The study file.
    trials : list of Trial
        Every grid point (model x hidden size x seed x training noise), in that order.
    evaluation : Evaluation or None
        The ``[evaluate]`` section (``None`` without one).
    """

    name: str
    description: str
    path: Path
    trials: list
    evaluation: Evaluation = None


def placement_name(delays, n_layers):
    """A short name of a model's delay placements: ``'none'``, ``'axonal'``, ``'axonal+dendritic'``, ...

    Examples
    --------
    >>> placement_name("dendritic+axonal", 2)
    'axonal+dendritic'
    >>> placement_name(["synaptic", "none"], 2)
    'synaptic/none'
    """
    layers = [placement_label(p) for p in parse_placements(delays, n_layers)]
    return layers[0] if len(set(layers)) == 1 else "/".join(layers)


def load_study(path):
    """Read, check and expand a study file.

    Parameters
    ----------
    path : str or Path
        A TOML study file, e.g. ``studies/quickstart.toml``, or the name of a shipped one (``'quickstart'``).
        The model files it names are paths relative to it or the names of model files beside it or
        shipped with the package (:func:`~brian2_delgrad.files.shipped.resolve`).

    Returns
    -------
    Study
        With one :class:`~brian2_delgrad.files.studyfile.Trial` per grid point.

    Raises
    ------
    ConfigError
        ``FILE: section.key: what is wrong``, also for problems in the model files it names.
    """
    path = find_file(path, "studies")
    top = read_toml(path)
    top.only(("description", "grid", "evaluate"))
    description = top.string("description", "")
    grid = top.section("grid")
    grid.only(("models", "hidden", "seeds", "epochs", *(f"train_{kind}" for kind in TRAIN_NOISE)))
    models = []
    for entry in _nonempty_list(grid, "models"):
        if not isinstance(entry, str):
            raise grid.error("models", f"must be model files (paths or shipped names, strings), got {entry!r}")
        models.append(load_model_file(find_file(entry, "models", base=path.parent)))
    if len({m.name for m in models}) != len(models):
        raise grid.error("models", "names a model file twice")
    hidden = grid.raw("hidden", None)
    if hidden is not None:
        hidden = _distinct(grid, "hidden", [grid.check_number("hidden", h, minimum=1, integer=True)
                                            for h in _nonempty_list(grid, "hidden")])
        for model in models:
            if len(model.sizes) != 3:
                raise grid.error("hidden", f"needs models with one hidden layer; {model.name} has sizes "
                                           f"{list(model.sizes)}")
    seeds = _distinct(grid, "seeds", [grid.check_number("seeds", s, minimum=0, integer=True)
                                      for s in _nonempty_list(grid, "seeds")])
    epochs = grid.setting(EPOCHS, None)
    train_noise = {kind: _distinct(grid, f"train_{kind}", [grid.check_number(f"train_{kind}", v, minimum=0)
                                                           for v in _nonempty_list(grid, f"train_{kind}", [0.0])])
                   for kind in TRAIN_NOISE}
    evaluation = _evaluation(top.section("evaluate"), models) if top.has("evaluate") else None
    count = len(models) * len(hidden or [None]) * len(seeds) * math.prod(len(v) for v in train_noise.values())
    if count > MAX_TRIALS:
        raise grid.error("models", f"the grid has {count} trials (models x hidden x seeds x training noise); a study "
                                   f"runs at most {MAX_TRIALS}: split it into several studies")
    trials = []
    for model, size, seed, *levels in itertools.product(models, hidden or [None], seeds,
                                                        *(train_noise[kind] for kind in TRAIN_NOISE)):
        try:
            trials.append(make_trial(model, seed, epochs, size, dict(zip(TRAIN_NOISE, levels)), evaluation))
        except ValueError as err:                    # a hidden size the model's tied delays do not fit
            if size is None:
                raise
            raise grid.error("hidden", f"{model.name} with hidden = {size}: {err}") from None
    assert len({t.id for t in trials}) == len(trials), "trial ids must be unique"
    return Study(name=path.stem, description=description, path=path, trials=trials, evaluation=evaluation)


def _distinct(section, key, values):
    if len(set(values)) != len(values):
        raise section.error(key, f"repeats a value: {values}")
    return values


def _nonempty_list(section, key, default=...):
    value = section.list(key, default)
    if not value:
        raise section.error(key, "must not be empty")
    return value


def _evaluation(section, models):
    section.only((*NOISE_KINDS, *(setting.name for setting in EVALUATION_SETTINGS)))
    levels = {}
    for kind, (_, unit) in NOISE_KINDS.items():
        if section.has(kind):
            levels[kind] = _distinct(section, kind, [section.check_number(kind, v, minimum=0)
                                                     for v in _nonempty_list(section, kind)])
    if not levels:
        raise ConfigError(f"{section.where()}: give at least one of {', '.join(NOISE_KINDS)} "
                          f"(levels in units of {', '.join(sorted({unit for _, unit in NOISE_KINDS.values()}))})")
    repeats, target, dt = (section.setting(setting, default) for setting, default in zip(EVALUATION_SETTINGS,
                                                                                          (3, "cython", 10e-6)))
    shortest = min(min(m.model.tau_m_, m.model.tau_s_) for m in models)
    if "membrane_noise" in levels and dt > shortest / 10:
        raise section.error("dt", f"{dt * 1e6:g} us is too coarse for the models' shortest time constant "
                                  f"({shortest * 1e3:g} ms): at most {shortest / 10 * 1e6:g} us")
    return Evaluation(levels=levels, repeats=repeats, target=target, dt=dt)


#: The ``[evaluate]`` settings besides the noise levels.
EVALUATION_SETTINGS = (
    Setting("repeats", "integer", low=1, doc="noise draws per level"),
    Setting("brian2_target", "choice", choices=lambda: _membrane_noise_substrates(),
            doc="the substrate of membrane noise"),
    Setting("dt", "time", low=0, low_open=True, doc="its time step"))


def _membrane_noise_substrates():
    """Registered substrates that can evaluate under membrane noise (Brian2 at runtime), with ``dt`` and ``copies``."""
    return tuple(name for name, entry in SUBSTRATES.items()
                 if "membrane" not in entry.unsupported_noise and {"dt", "copies"} <= set(entry.options))


def make_trial(model, seed, epochs=None, hidden=None, train_noise=None, evaluation=None):
    """One trial of a model file: the network and recipe of ``model`` for ``seed``, as a study makes them.

    Parameters
    ----------
    model : ModelFile
    seed : int
    epochs : int, optional
        Default: the model file's.
    hidden : int, optional
        The hidden layer's size, instead of the file's (one hidden layer).
    train_noise : dict, optional
        ``{kind: level}`` of :data:`~brian2_delgrad.substrates.noise.TRAIN_NOISE` (default none).
    evaluation : Evaluation, optional
        The test conditions besides the clean one.

    Returns
    -------
    Trial
    """
    train_noise = {kind: 0.0 for kind in TRAIN_NOISE} if train_noise is None else train_noise
    if hidden is not None:
        model = dataclasses.replace(model, sizes=(model.sizes[0], hidden, model.sizes[-1]))
    epochs = model.training["epochs"] if epochs is None else epochs
    net = model.network(seed=seed)
    columns = dict(
        model=model.name, placement=placement_name(model.delays, len(model.sizes) - 1), profile=model.profile.name,
        sizes="-".join(map(str, model.sizes)), hidden=int(model.sizes[1]) if len(model.sizes) == 3 else None,
        n_parameters=int(net.n_parameters), seed=seed, epochs=epochs,
        tau_m_ms=model.model.tau_m_ * 1e3, tau_s_ms=model.model.tau_s_ * 1e3, theta=model.model.theta,
        batch_size=model.training["batch_size"], lr_weights_initial=model.training["lr_weights"],
        lr_delays_initial=model.training["lr_delays"], lr_decay=model.training["lr_decay"],
        decay_every=model.training["decay_every"], max_weight_gradient=model.training["max_weight_gradient"],
        keep_best=model.training["keep_best"], delay_low_ms=model.delay_range[0] * 1e3,
        delay_high_ms=model.delay_range[1] * 1e3, delay_bounds=model.delay_bounds,
        weight_init=json.dumps(model.weight_init), delay_init=model.delay_init,
        delay_groups=json.dumps(model.delay_groups), t_early=model.encoding["t_early"], t_late=model.encoding["t_late"],
        loss_function=repr(model.loss),
        **{f"train_{kind}": level for kind, level in train_noise.items()})
    content = dict(columns, model_file=repr(dataclasses.replace(model, description="")))   # not the evaluation:
    # a new [evaluate] section re-tests the saved networks instead of training them again
    # the fields added later (out of the repr): only where they differ from their defaults, so that earlier ids hold
    content.update({f.name: getattr(model, f.name) for f in dataclasses.fields(model)
                    if not f.repr and getattr(model, f.name) != f.default})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:10]
    readable = f"{model.name}_h{columns['hidden']}_s{seed}" if hidden is not None else f"{model.name}_s{seed}"
    for kind, level in train_noise.items():
        if level:
            readable += f"_{kind}{level:g}"
    return Trial(id=f"{readable}_{digest}", model_file=model, columns=columns, seed=seed, epochs=epochs,
                 train_noise=train_noise, evaluation=evaluation)
