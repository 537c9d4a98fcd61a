"""Network descriptions in ``models/*.toml``: neuron equations, sizes, delays, initialisation, training.

A model file is data: it is parsed strictly, quantities such as ``"5*ms"``
without evaluation, and any unknown key, wrong type, wrong unit or impossible
value is a :class:`~brian2_delgrad.files.toml.ConfigError` naming the file and the
field. See ``models/yinyang_h30_ws.toml`` for a complete, commented example.
"""
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import second

from ..core.delays import DELAY_RANGE, delay_groups, delay_range_in_seconds, parse_placements
from ..core.lif import LIFModel, lif_time_constants
from ..core.network import (CONNECTION_PROBABILITY, DEFAULT_DELAYS, DEFAULT_WEIGHT_INIT, DELAY_INIT, DelayNetwork,
                            check_sizes, check_weight_init, random_connectivity)
from ..datasets import (DEFAULT_FRACTIONS, ENCODING_SETTINGS, check_encoding, encode_times, encoded_inputs,
                        get_dataset, load_dataset)
from ..datasets.splits import FRACTIONS
from ..substrates import make_substrate
from ..substrates.profiles import PROFILES, HardwareProfile, get_profile
from ..training.losses import LOSSES
from ..training.optim import DELAY_BOUNDS_SETTING
from ..training.trainer import EPOCHS, Trainer
from .equation_text import evaluate, parse_equations, right_hand_sides
from .toml import find_file, read_toml

__all__ = ["ModelFile", "load_model_file", "TABLES"]

_LIF = {"v": "-v/tau_m + I/tau_s", "I": "-I/tau_s"}


@dataclass(frozen=True)
class ModelFile:
    """A parsed model description, as :func:`~brian2_delgrad.load_model_file` returns it.

    Plain numbers are in seconds where they are times; the loader fills every
    field from the file (or its default), checked.

    Parameters
    ----------
    name : str
        The file's stem, e.g. ``'yinyang_h30_ws'``.
    description : str
        The file's ``description`` (default ``''``).
    model : LIFModel
        The neuron (``[neuron]``: ``tau_m``, ``tau_s``, ``theta``).
    sizes : tuple of int
        Layer sizes, input first (``[network] sizes``).
    delays : str or list of str
        Placements as written in the file (``[network] delays``), e.g.
        ``'synaptic'``, ``'axonal+dendritic'`` or one per connection layer.
    delay_range : tuple of float
        ``(low, high)`` of the delays in seconds (``[network] delay_range``;
        default ``(0, tau_s)``).
    delay_bounds : str
        ``'sigmoid'`` or ``'clip'``: how delays stay in ``delay_range``
        (:class:`~brian2_delgrad.training.optim.DelayBounds`).
    weight_init : list of tuple of float
        ``(mean, std)`` of the initial weights per connection layer (dimensionless weight; ``[init] weights``).
    encoding : dict
        ``t_early``, ``t_late`` of the latency code, in units of ``tau_s``
        (:func:`~brian2_delgrad.datasets.encode_times`).
    loss : callable
        The loss object named in ``[loss]``, e.g. a
        :class:`~brian2_delgrad.training.losses.ShiftInvariantMSE`.
    training : dict
        ``epochs`` and the :class:`~brian2_delgrad.training.trainer.Trainer` settings
        of ``[training]``: ``batch_size``, ``lr_weights``, ``lr_delays``,
        ``lr_decay``, ``decay_every``, ``hidden_silence``, ``output_silence``,
        ``bump``, ``max_weight_gradient``, ``keep_best``.
    profile : HardwareProfile
        The substrate the network is made for (``'ideal'`` unless the file names one).
    delay_init : float
        Std of the delays' initial sigmoid argument, dimensionless (``[init] delays``;
        see :class:`~brian2_delgrad.core.network.DelayNetwork`).
    delay_groups : list or None
        Per connection layer, the number of consecutive presynaptic neurons
        that share their delays or their group indices, as written in the file
        (``[network] delay_groups``; see :class:`~brian2_delgrad.core.network.DelayNetwork`).
    dataset : str
        The data set (``[data] dataset``), a name in :data:`~brian2_delgrad.datasets.DATASETS`,
        or ``'file'`` (read from ``data_path``).
    connection_probability : tuple of float or None
        Per connection layer, the probability that a synapse exists (``[network]
        connection_probability``); ``None``: all-to-all.
    connection_seed : int or None
        Seed of the random connectivity (default: the network's seed).
    data_path : str or None
        Absolute path of the data file for ``dataset = "file"`` (``[data] path``,
        relative to the model file there); ``None`` otherwise.
    fractions : tuple of float
        Train, validation and test fractions of a data file without a split of its own
        (``[data] fractions``).
    data_seed : int
        Seed of that split (``[data] seed``).
    polarity : str
        ``'small_early'`` or ``'large_early'``: which end of ``[0, 1]`` spikes at ``t_early``.
    silent_zero : bool
        A feature of exactly 0 sends no spike.
    mirror : bool
        Each feature ``v`` is sent as ``v`` and ``1 - v`` (``[data] mirror``; default: on for a data file).
    reference : bool
        One more input spikes at ``t = 0`` in every sample (``[data] reference``; default: on for a data file).
    """

    name: str
    description: str
    model: LIFModel
    sizes: tuple
    delays: object
    delay_range: tuple
    delay_bounds: str
    weight_init: list
    encoding: dict
    loss: object
    training: dict
    profile: HardwareProfile = PROFILES["ideal"]
    delay_init: float = 0.25
    delay_groups: list = None
    # Fields added later: out of the repr, in the trial ids only when they differ from these defaults (studyfile)
    dataset: str = field(default="yin_yang", repr=False)
    connection_probability: object = field(default=None, repr=False)
    connection_seed: int = field(default=None, repr=False)
    data_path: str = field(default=None, repr=False)
    fractions: tuple = field(default=DEFAULT_FRACTIONS, repr=False)
    data_seed: int = field(default=0, repr=False)
    polarity: str = field(default="small_early", repr=False)
    silent_zero: bool = field(default=False, repr=False)
    mirror: bool = field(default=False, repr=False)
    reference: bool = field(default=False, repr=False)

    def network(self, seed=0):
        """A freshly initialised network of the file.

        Parameters
        ----------
        seed : int
            Seed of the initial weights and delays; also of the random
            connectivity, if the file gives a ``connection_probability`` and
            no ``connection_seed``.

        Returns
        -------
        DelayNetwork
            Sizes, placements, model, initialisation and delay groups as in the file.
        """
        connectivity = None if self.connection_probability is None else random_connectivity(
            self.sizes, list(self.connection_probability), seed if self.connection_seed is None else self.connection_seed)
        return DelayNetwork(self.sizes, delays=self.delays, model=self.model, weight_init=self.weight_init,
                            delay_range=tuple(v * second for v in self.delay_range), seed=seed,
                            delay_init=self.delay_init, delay_groups=self.delay_groups, connectivity=connectivity)

    def noise(self, extra=None):
        """The profile's substrate noise for the file's ``tau_s``, plus ``extra``.

        Parameters
        ----------
        extra : Noise, optional
            Added to the profile's noise (e.g. a study's training or evaluation noise).

        Returns
        -------
        Noise
            Threshold and membrane noise in units of ``v``, jitter in seconds.
        """
        noise = self.profile.noise(self.model.tau_s_)
        return noise if extra is None else noise + extra

    def substrate(self, target="exact", seed=0, extra_noise=None, batch_size=None, pattern_seed=None, **options):
        """The substrate registered as ``target``, with the profile's noise (plus ``extra_noise``).

        Every forward pass of a model file's network goes through here, so the
        profile's noise is never left out.

        Parameters
        ----------
        target : str
            A registered substrate (:data:`~brian2_delgrad.substrates.SUBSTRATES`): ``'exact'``
            (the exact event-based one) or a Brian2 target ``'numpy'``, ``'cython'``,
            ``'cpp_standalone'``.
        seed : int
            Seed of the noise.
        extra_noise : Noise, optional
            Added to the profile's noise (:meth:`noise`).
        batch_size : int, optional
            Samples per forward pass, each with its own draw of the batch-to-batch
            noise (default: the training batch size).
        pattern_seed : int, optional
            Seed of the profile's fixed threshold pattern (default ``seed``):
            the training seed tests the trained "chip" with new trial noise.
        **options
            The substrate's own options, e.g. Brian2's ``dt``, ``timing``, ``copies``
            (see :class:`~brian2_delgrad.substrates.Brian2Substrate`).

        Returns
        -------
        Substrate
            E.g. an :class:`~brian2_delgrad.substrates.ExactSubstrate` or a
            :class:`~brian2_delgrad.substrates.Brian2Substrate`.
        """
        return make_substrate(target, noise=self.noise(extra_noise), seed=seed, pattern_seed=pattern_seed,
                              batch_size=batch_size or self.training["batch_size"], **options)

    def trainer(self, net, seed=0, substrate=None, progress=True):
        """A trainer with the file's recipe and profile.

        Parameters
        ----------
        net : DelayNetwork
            Trained in place, e.g. from :meth:`network`.
        seed : int
            Seed of the shuffling, and of the default substrate's noise.
        substrate : Substrate, optional
            Where the forward passes run (default: the exact one with the
            profile's noise, :meth:`substrate` with ``seed``).
        progress : bool
            Show a progress bar over epochs.

        Returns
        -------
        Trainer
            With the file's loss, delay bounds and range, ``[training]``
            settings (but ``epochs``, which :meth:`~brian2_delgrad.training.trainer.Trainer.fit`
            takes) and the profile's weight grid.
        """
        settings = {k: v for k, v in self.training.items() if k != "epochs"}
        substrate = self.substrate(seed=seed) if substrate is None else substrate
        return Trainer(net, substrate=substrate, loss=self.loss, delay_bounds=self.delay_bounds,
                       delay_range=tuple(v * second for v in self.delay_range), seed=seed, progress=progress,
                       **settings, **self.profile.trainer_settings)

    def dataset_object(self):
        """The file's data set.

        Returns
        -------
        Dataset
            The registered one, or the data file read anew (split by ``fractions``
            and ``data_seed`` if it has no split of its own).
        """
        return load_dataset(self.data_path or self.dataset, self.fractions, self.data_seed)

    def data(self, split):
        """A split of the data set as the network's inputs and labels.

        Parameters
        ----------
        split : {'train', 'validation', 'test'}

        Returns
        -------
        times : ndarray of float64, shape (n, sizes[0])
            Input spike times in seconds, ``inf`` = no spike (:meth:`encode`).
        labels : ndarray of int64, shape (n,)
            Class of each sample, ``0 ... n_classes - 1``.
        """
        dataset = self.dataset_object()
        values, labels = dataset.load(split)
        return self.encode(values, dataset.kind), labels

    def encode(self, values, kind="features"):
        """The network's input spike times for samples of the file's data set.

        Parameters
        ----------
        values : ndarray of float64, shape (n, n_features)
            Features in ``[0, 1]``, or input spike times in seconds for a data set of ``kind`` ``'times'``.
        kind : {'features', 'times'}
            The data set's :attr:`~brian2_delgrad.datasets.Dataset.kind`.

        Returns
        -------
        ndarray of float64, shape (n, sizes[0])
            Features encoded as latencies (``encoding``, ``polarity``, ``silent_zero``, ``mirror``,
            ``reference``), spike times as they are; each input repeated in consecutive columns for the
            profile's ``input_replicas``.
        """
        times = values if kind == "times" else encode_times(
            values, self.model.tau_s, polarity=self.polarity, silent_zero=self.silent_zero, mirror=self.mirror,
            reference=self.reference, **self.encoding)
        return np.repeat(times, self.profile.input_replicas, axis=1)


#: The tables (and top-level keys) of a model file. Only ``[network] sizes`` and the data (``[data] dataset``
#: or ``path``) must be given; everything else has the default of the Python API (see :func:`load_model_file`).
TABLES = ("description", "profile", "neuron", "network", "init", "data", "loss", "training")
_NEURON_KEYS = ("equations", "threshold", "on_pre", *(s.name for s in LIFModel.SETTINGS))
_NETWORK_KEYS = ("sizes", "delays", "delay_range", "delay_bounds", "delay_groups", "connection_probability",
                 "connection_seed")
_DATA_KEYS = ("dataset", "path", "fractions", "seed", *(s.name for s in ENCODING_SETTINGS))


def load_model_file(path):
    """Read and check a model file.

    Parameters
    ----------
    path : str or Path
        A TOML model file, e.g. ``models/yinyang_h30_ws.toml``, or the name of
        a shipped one (``'yinyang_h30_ws'``; :mod:`brian2_delgrad.files.shipped`).

    Returns
    -------
    ModelFile
        Every field checked, the data set included (a data file is found relative to the model file).

    Raises
    ------
    ConfigError
        With ``FILE: section.key: what is wrong`` for any problem.

    Notes
    -----
    Only ``[network] sizes`` and the data (``[data] dataset``, or ``path`` of
    a file) are required. Every other key takes the default its
    :class:`~brian2_delgrad.utils.settings.Setting` declares, which the Python
    API's signatures read too: :class:`~brian2_delgrad.LIFModel`'s neuron, :class:`~brian2_delgrad.DelayNetwork`'s
    placement and initialisation, :class:`~brian2_delgrad.ShiftInvariantMSE`, the
    :class:`~brian2_delgrad.Trainer`'s recipe and 300 epochs. Two defaults differ
    from the API: ``lr_delays`` is the file's ``lr_weights`` when only that is
    given (the published files rely on it), and a data *file* of features is
    encoded with ``mirror`` and ``reference`` on (a network of latencies alone
    sees only differences of features; see :mod:`~brian2_delgrad.datasets.encoding`).
    """
    path = find_file(path, "models")
    top = read_toml(path)
    top.only(TABLES)
    description = top.string("description", "")
    try:
        profile = get_profile(top.string("profile", "ideal"))
    except ValueError as err:
        raise top.error("profile", str(err).removeprefix("profile ")) from None
    neuron = top.section("neuron", required=False)
    model = _neuron(neuron)
    network = top.section("network")
    network.only(_NETWORK_KEYS)
    sizes = _checked(network, "sizes", check_sizes, network.list("sizes"))
    delays = network.raw("delays", DEFAULT_DELAYS)
    try:
        placements = parse_placements(delays, len(sizes) - 1)
    except ValueError as err:
        raise network.error("delays", str(err).removeprefix("delays: ")) from None
    low, high = delay_range_in_seconds(network.setting(DELAY_RANGE, None), model.tau_s_)
    delay_bounds = network.setting(DELAY_BOUNDS_SETTING)
    delay_groups, resolved, groups_error = _delay_groups(network, sizes)
    connection_probability = _connection_probability(network, len(sizes) - 1)
    connection_seed = network.number("connection_seed", None, minimum=0, integer=True)
    if connection_seed is not None and connection_probability is None:
        raise network.error("connection_seed", "draws a random connectivity: give connection_probability too")
    data = top.section("data")
    data.only(_DATA_KEYS)
    source = _data_source(data, Path(path))
    dataset = _checked(data, "path" if source["data_path"] else "dataset", load_dataset,
                       source["data_path"] or source["dataset"], source["fractions"], source["data_seed"])
    code = _encoding(data, dataset, source["data_path"] is not None)
    if sizes[-1] != dataset.n_classes:
        raise network.error("sizes", f"the output layer needs one neuron per class of {dataset.name!r}: "
                                     f"{dataset.n_classes}, not {sizes[-1]}")
    channels = encoded_inputs(dataset.n_features, code["mirror"], code["reference"])
    if channels != dataset.n_features and sizes[0] != channels * profile.input_replicas:
        raise network.error("sizes", f"the data's {dataset.n_features} features{_ENCODED[code['mirror'], code['reference']]} "
                                     f"give {channels} inputs: the input layer needs "
                                     f"{channels * profile.input_replicas} neurons, not {sizes[0]}")
    for key, message in profile.problems(model.tau_m_, model.tau_s_, model.theta, placements, (low, high),
                                         sizes[0], n_features=channels, delay_groups=resolved):
        if key == "delay_groups" and groups_error is not None:
            raise groups_error                       # what is wrong with the entry itself comes first
        section = neuron if key in ("tau_m", "theta") else network
        raise section.error(key, message)
    if groups_error is not None:                     # after the profile's other checks, which name the cause (sizes)
        raise groups_error
    init = top.section("init", required=False)
    init.only(("weights", "delays"))
    weight_init = _checked(init, "weights", check_weight_init,
                           init.raw("weights", DEFAULT_WEIGHT_INIT), len(sizes) - 1, "weights")
    delay_init = init.setting(DELAY_INIT, key="delays")
    encoding = {key: code[key] for key in ("t_early", "t_late")}
    loss = _loss(top.section("loss", required=False))
    training = _training(top.section("training", required=False))
    return ModelFile(name=Path(path).stem, description=description, model=model, sizes=sizes, delays=delays,
                     delay_range=(low, high), delay_bounds=delay_bounds, weight_init=weight_init,
                     encoding=encoding, loss=loss, training=training, profile=profile, delay_init=delay_init,
                     delay_groups=delay_groups, connection_probability=connection_probability,
                     connection_seed=connection_seed, polarity=code["polarity"], silent_zero=code["silent_zero"],
                     mirror=code["mirror"], reference=code["reference"], **source)


#: How the features were widened, for messages: (mirror, reference) -> words.
_ENCODED = {(True, True): ", mirrored (v and 1 - v), and a reference spike", (True, False): ", mirrored (v and 1 - v),",
            (False, True): " and a reference spike", (False, False): ""}


def _encoding(section, dataset, is_file):
    """The ``[data]`` encoding keys, checked: ``mirror`` and ``reference`` default to on for a data file."""
    files = dict(mirror=is_file, reference=is_file)          # the documented exception of data files
    code = {setting.name: section.setting(setting, files.get(setting.name, ...)) for setting in ENCODING_SETTINGS}
    _checked(section, "t_late", check_encoding, *code.values())
    if dataset.kind == "times":
        written = [key for key in code if section.has(key)]
        if written:
            raise section.error(written[0], f"{dataset.name} holds spike times, which are not encoded: remove "
                                            "the encoding keys")
        code.update(mirror=False, reference=False)
    return code


def _checked(section, key, check, *args):
    """``check(*args)`` (a check of the Python API), its ``ValueError`` as the ConfigError of ``section.key``."""
    try:
        return check(*args)
    except ValueError as err:
        raise section.error(key, str(err)) from None


def _neuron(section):
    section.only(_NEURON_KEYS)
    model = LIFModel(**{setting.name: section.setting(setting) for setting in LIFModel.SETTINGS})
    for key, expected in (("threshold", LIFModel.threshold), ("on_pre", LIFModel.on_pre)):
        value = section.string(key, expected)
        if re.sub(r"\s+", "", value) != re.sub(r"\s+", "", expected):
            raise section.error(key, f"must be {expected!r} (the model's spike condition and synapse), got {value!r}")
    if section.has("equations"):
        _check_equations(section, model)
    return model


def _check_equations(section, model):
    """``equations``, when the file writes them, must be the LIF model's with the file's ``tau_m`` and ``tau_s``.

    Read by the strict grammar of :mod:`~brian2_delgrad.files.equation_text` and checked as functions by
    :func:`~brian2_delgrad.core.lif.lif_time_constants`, the check of a user's Brian2 network too: the text never
    reaches Brian2 or SymPy (whose parsers evaluate strings)."""
    text = section.string("equations")
    try:
        equations = parse_equations(text)
    except ValueError as err:
        raise section.error("equations", str(err)) from None
    if set(equations) != set(_LIF):
        raise section.error("equations", "must define exactly dv/dt and dI/dt of the LIF model with "
                                         "exponential current synapses: " + "; ".join(
                                             f"d{k}/dt = {v} : 1" for k, v in _LIF.items()))
    written = right_hand_sides(text)
    constants = dict(tau_m=model.tau_m_, tau_s=model.tau_s_)

    def rate(name):            # the grammar lets only v, I, tau_m and tau_s through
        return lambda v, current: evaluate(equations[name], dict(constants, v=v, I=current))

    try:
        found = lif_time_constants(rate("v"), rate("I"), written["v"], written["I"])
    except ValueError as err:
        raise section.error("equations", str(err)) from None
    for key, value, wanted in zip(("tau_m", "tau_s"), found, (model.tau_m_, model.tau_s_)):
        if not math.isclose(value, wanted, rel_tol=1e-9):
            raise section.error("equations", f"give the LIF model with the file's {key}: they have {key} = "
                                             f"{value:g} s, [neuron] {key} = {wanted:g} s")


def _data_source(section, model_path):
    """``dataset``, ``data_path`` (absolute, for ``dataset = "file"``), ``fractions`` and ``data_seed``.

    ``path`` alone means ``dataset = "file"``."""
    if not section.has("dataset") and not section.has("path"):
        raise section.error("dataset", "missing: give dataset = \"yin_yang\", \"digits\" (or another registered "
                                       "name), or path = \"your_data.csv\"")
    name = section.string("dataset", "file")
    if name == "file":
        relative = section.string("path")
        data_path = str((model_path.parent / relative).resolve())
    else:
        if section.has("path"):
            raise section.error("path", f"is for dataset = \"file\"; dataset {name!r} is not read from a file")
        data_path = None
        _checked(section, "dataset", get_dataset, name)
    fixed = name != "file"
    for key in ("fractions", "seed"):
        if fixed and section.has(key):
            raise section.error(key, f"{name!r} has fixed splits; fractions and seed split a file without a split")
    fractions = section.list("fractions", list(DEFAULT_FRACTIONS), length=3)
    for value in fractions:
        problem = FRACTIONS.inspect(value)[0]
        if problem is not None:
            raise section.error("fractions", problem)
    if abs(sum(fractions) - 1) > 1e-9:
        raise section.error("fractions", f"train, validation and test fractions must sum to 1, got {fractions}")
    seed = section.number("seed", 0, minimum=0, integer=True)
    return dict(dataset=name, data_path=data_path, fractions=tuple(float(f) for f in fractions), data_seed=seed)


def _connection_probability(section, n_layers):
    """``connection_probability``: one number for every connection layer or a list of one per layer (tuple or None)."""
    if not section.has("connection_probability"):
        return None
    value = section.raw("connection_probability")
    values = value if isinstance(value, list) else [value] * n_layers
    if len(values) != n_layers:
        raise section.error("connection_probability", f"needs one number or one per connection layer ({n_layers})")
    for item in values:
        problem = CONNECTION_PROBABILITY.inspect(item)[0]
        if problem is not None:
            raise section.error("connection_probability", problem)
    return tuple(float(v) for v in values)


def _delay_groups(section, sizes):
    """``delay_groups``: per connection layer a number of copies sharing a delay (1: none) or group indices.

    Returns the entries as written, the groups they give (``None`` for a layer whose entry does not fit its size)
    and the ConfigError of the first entry that does not fit, or ``None``."""
    entries = section.list("delay_groups", [1] * (len(sizes) - 1), length=len(sizes) - 1)
    groups, error = [], None
    for k, (entry, n_pre) in enumerate(zip(entries, sizes[:-1])):
        if isinstance(entry, list):
            for index in entry:
                section.check_number("delay_groups", index, minimum=0, integer=True)
        else:
            section.check_number("delay_groups", entry, minimum=1, integer=True)
        try:
            groups.append(delay_groups(entry, n_pre, f"layer {k}"))
        except ValueError as err:
            groups.append(None)
            error = error or section.error("delay_groups", str(err))
    return entries, groups, error


def _loss(section):
    """``[loss]``: ``name`` (default ``'shift_mse'``) and that loss's own settings (defaults: the class's)."""
    section.only(("name", *sorted({s.name for cls in LOSSES.values() for s in cls.SETTINGS})))
    name = section.string("name", "shift_mse", choices=tuple(LOSSES))
    cls = LOSSES[name]
    section.only(("name", *(s.name for s in cls.SETTINGS)))
    return cls(**{setting.name: section.setting(setting) for setting in cls.SETTINGS if section.has(setting.name)})


#: ``[training]`` keys: the Trainer settings a model file may give (its defaults: the Trainer's).
_TRAINING = ("batch_size", "lr_weights", "lr_delays", "lr_decay", "decay_every", "hidden_silence", "output_silence",
             "bump", "max_weight_gradient", "keep_best")


def _training(section):
    section.only(("epochs", *_TRAINING))
    declared = {setting.name: setting for setting in Trainer.SETTINGS}
    training = dict(epochs=section.setting(EPOCHS))
    training.update({key: section.setting(declared[key]) for key in _TRAINING})
    if section.has("lr_weights") and not section.has("lr_delays"):
        training["lr_delays"] = training["lr_weights"]
    return training
