"""Time-to-first-spike encoding: features in [0, 1] to input spike times.

A network that sees only latencies is blind to a common shift of its inputs:
moving every input spike by the same amount moves every spike of the network by
that amount and changes no decision, so from two features ``(x, y)`` it can use
only ``x - y``. Two ways out, both optional here: ``mirror`` adds the
complementary feature ``1 - v`` of each feature (a shift moves it the other
way; Yin-Yang's published features ``(x, y, 1-x, 1-y)`` are mirrored this
way), ``reference`` adds one input that spikes at ``t = 0`` in every sample
(a clock the other inputs are measured against).
"""
import numpy as np

from ..utils.checks import float_array, positive_time
from ..utils.settings import Setting, check_settings, takes_settings

__all__ = ["ENCODING_SETTINGS", "check_encoding", "encode_times", "encoded_inputs"]


#: The latency code's settings, declared once for :func:`encode_times` and model files (``[data]``).
ENCODING_SETTINGS = (Setting("t_early", "number", low=0, unit="tau_s", doc="the earliest spike time", default=0.15),
                     Setting("t_late", "number", low=0, low_open=True, unit="tau_s", doc="the latest spike time",
                             default=2.0),
                     Setting("polarity", "choice", choices=("small_early", "large_early"), default="small_early",
                             doc="'small_early': 0 spikes at t_early, 1 at t_late; 'large_early': bright = early"),
                     Setting("silent_zero", "boolean", doc="a feature of exactly 0 sends no spike", default=False),
                     Setting("mirror", "boolean", doc="add the complement 1 - v of every feature as an input",
                             default=False),
                     Setting("reference", "boolean", doc="add one input that spikes at t = 0 in every sample",
                             default=False))


@takes_settings(ENCODING_SETTINGS)
def check_encoding(t_early=..., t_late=..., polarity=..., silent_zero=..., mirror=..., reference=...):
    """The encoding's settings checked (as declared, and ``t_early < t_late``), as a dict."""
    values = check_settings(ENCODING_SETTINGS, locals())
    if values["t_early"] >= values["t_late"]:
        raise ValueError(f"t_late must be larger than t_early, got t_early={t_early!r}, t_late={t_late!r}")
    return values


@takes_settings(ENCODING_SETTINGS)
def encoded_inputs(n_features, mirror=..., reference=...):
    """Input channels of :func:`encode_times` for ``n_features`` features (int).

    >>> encoded_inputs(2, mirror=True, reference=True)
    5
    """
    return n_features * (2 if mirror else 1) + (1 if reference else 0)


@takes_settings(ENCODING_SETTINGS)
def encode_times(features, tau_s, t_early=..., t_late=..., polarity=..., silent_zero=..., mirror=..., reference=...):
    """Time-to-first-spike encoding of features in ``[0, 1]``: one input spike per feature (and its mirror).

    With ``polarity='small_early'`` (default) a value ``v`` spikes at
    ``tau_s * (t_early + (t_late - t_early) * v)``: small values early, large
    ones late (the Yin-Yang convention); ``'large_early'`` reverses it
    (``1 - v`` instead of ``v``: a bright pixel spikes first).

    Parameters
    ----------
    features : array_like of float, shape (n_samples, n_features)
        Dimensionless values in ``[0, 1]``, e.g. the Yin-Yang features.
    tau_s : Quantity or float
        The synaptic time constant, a Brian2 time (e.g. ``5*ms``) or float
        seconds; finite and positive.
    t_early, t_late : float
        The earliest and latest spike time, in units of ``tau_s``; ``0 <= t_early < t_late``.
    polarity : {'small_early', 'large_early'}
    silent_zero : bool
        A feature of exactly 0 sends no spike (``inf``), e.g. a black pixel.
    mirror : bool
        Add the complement ``1 - v`` of every feature, encoded the same way,
        as ``n_features`` more columns (breaks the time-shift invariance; see
        the module docstring).
    reference : bool
        Add a last column that spikes at ``t = 0`` in every sample.

    Returns
    -------
    ndarray of float64, shape (n_samples, encoded_inputs(n_features, mirror, reference))
        Spike times in seconds (``inf``: no spike): the features, then their
        mirrors, then the reference.

    Examples
    --------
    >>> from brian2 import ms
    >>> encode_times([[0.0, 1.0]], 5*ms) * 1e3
    array([[ 0.75, 10.  ]])
    >>> encode_times([[0.0, 1.0]], 5*ms, polarity="large_early", silent_zero=True) * 1e3
    array([[ inf, 0.75]])
    >>> encode_times([[0.2]], 5*ms, mirror=True, reference=True) * 1e3
    array([[2.6 , 8.15, 0.  ]])
    """
    features = float_array(features, "features", (None, None), minimum=0.0)
    if np.any(features > 1):
        raise ValueError(f"features must be <= 1, got a maximum of {features.max()}")
    tau_s = positive_time(tau_s, "tau_s")
    code = check_encoding(t_early, t_late, polarity, silent_zero, mirror, reference)
    if code["mirror"]:
        features = np.hstack([features, 1.0 - features])
    values = features if code["polarity"] == "small_early" else 1.0 - features
    times = tau_s * (code["t_early"] + (code["t_late"] - code["t_early"]) * values)
    if code["silent_zero"]:
        times = np.where(features == 0, np.inf, times)
    return np.hstack([times, np.zeros((len(times), 1))]) if code["reference"] else times
