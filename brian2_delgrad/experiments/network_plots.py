"""Pictures of one trained network: a spike raster of a sample, its learned delays, its decision map.

Drawn by ``brian2-delgrad plot`` for any model file and saved network
(``parameters.npz`` of ``train``, ``parameters/<trial>.best.npz`` of a study).
"""
import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator

from ..core.delays import placement_label
from ..substrates import ExactSubstrate
from ..training.losses import predict_labels
from .plots import new_figure, save_figure

__all__ = ["plot_raster", "plot_delays", "plot_decision_map"]


def plot_raster(net, inputs, label, path=None, class_names=None):
    """Spike times of one sample in every layer, the winning output marked.

    Parameters
    ----------
    net : DelayNetwork
        Run on the exact substrate without noise.
    inputs : ndarray of float64, shape (n_in,)
        Input spike times of the sample, seconds (``inf``: silent).
    label : int
        Its true class.
    path : str or Path, optional
        PNG file; ``None``: a pyplot figure, to show or save yourself.
    class_names : list of str, optional
        A name per class for the title (default: the class numbers).

    Returns
    -------
    matplotlib.figure.Figure
    """
    times = ExactSubstrate().run(net, inputs[None])
    decision = int(predict_labels(times[-1])[0])
    names = ["inputs"] + [f"hidden {k}" for k in range(1, len(net.sizes) - 1)] + ["output"]
    heights = [max(1.0, 0.25 + n / 40) for n in net.sizes]
    figure = new_figure(path, figsize=(7, 1.2 + sum(heights)))
    axes = figure.subplots(len(net.sizes), 1, sharex=True, gridspec_kw=dict(height_ratios=heights))
    for axis, layer, name in zip(axes, times, names):
        spikes = layer[0]
        fired = np.flatnonzero(np.isfinite(spikes))
        axis.scatter(spikes[fired] * 1e3, fired, s=8, color="k", marker="|" if len(spikes) > 20 else "o")
        axis.set(ylabel=f"{name}\n({len(fired)}/{len(spikes)})", ylim=(-0.8, len(spikes) - 0.2))
        axis.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    if decision >= 0:
        axes[-1].scatter(times[-1][0, decision] * 1e3, decision, s=80, facecolors="none",
                         edgecolors="tab:red" if decision != label else "tab:green", lw=1.5)
    named = (lambda k: class_names[k]) if class_names else str
    verdict = "no output spike" if decision < 0 else f"decision {named(decision)}"
    axes[0].set_title(f"one sample, class {named(label)}: {verdict}")
    axes[-1].set_xlabel("time (ms)")
    return save_figure(figure, path)


def plot_delays(initial, trained, path=None):
    """Histograms of every layer's delays per placement, at initialisation and after training.

    Parameters
    ----------
    initial, trained : DelayNetwork
        The same network before and after training (values that delay no synapse are left out).
    path : str or Path, optional
        PNG file; ``None``: a pyplot figure, to show or save yourself.

    Returns
    -------
    matplotlib.figure.Figure or None
        ``None`` where there is nothing to draw (a network without delays has none).
    """
    panels = [(k, p) for k, placements in enumerate(trained.placements) for p in placements]
    if not panels:
        return None
    figure = new_figure(path, figsize=(3.4 * len(panels), 3))
    axes = figure.subplots(1, len(panels), squeeze=False)
    for axis, (k, placement) in zip(axes[0], panels):
        used = trained.used_delays(k)[placement]
        before, after = (net.delays[k][placement][used] * 1e3 for net in (initial, trained))
        bins = np.linspace(min(before.min(), after.min()), max(before.max(), after.max()) + 1e-9, 25)
        axis.hist(before, bins=bins, alpha=0.5, label="initial", color="0.5")
        axis.hist(after, bins=bins, alpha=0.6, label="trained", color="tab:blue")
        axis.set(title=f"layer {k + 1}: {placement} ({before.size})", xlabel="delay (ms)")
    axes[0][0].set_ylabel("count")
    axes[0][0].legend()
    figure.suptitle(f"learned delays ({', '.join(placement_label(p) for p in trained.placements)})")
    return save_figure(figure, path)


def plot_decision_map(net, encode, features, labels, path=None, resolution=120):
    """The network's class over the plane of two input features (Yin-Yang: ``x``, ``y``), test points on top.

    Parameters
    ----------
    net : DelayNetwork
        Run on the exact substrate without noise.
    encode : callable
        ``encode(points)`` -> input spike times in seconds, shape ``(n, n_in)``, for points of
        shape ``(n, 2)`` in ``[0, 1]^2``.
    features : ndarray of float64, shape (n, 2)
        Test points, in ``[0, 1]^2``.
    labels : ndarray of int, shape (n,)
        Their classes.
    path : str or Path, optional
        PNG file; ``None``: a pyplot figure, to show or save yourself.
    resolution : int
        Grid points per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    axis_values = np.linspace(0, 1, resolution)
    grid = np.stack(np.meshgrid(axis_values, axis_values), axis=-1).reshape(-1, 2)
    decisions = predict_labels(ExactSubstrate().run(net, encode(grid))[-1]).reshape(resolution, resolution)
    figure = new_figure(path, figsize=(5, 4.4))
    axis = figure.subplots()
    classes = net.sizes[-1]
    colours = colormaps["tab10"]
    image = np.full(decisions.shape + (3,), 0.93)
    for k in range(classes):
        image[decisions == k] = colours(k)[:3]
    image = 0.45 * image + 0.55                      # pale: the points stay readable
    axis.imshow(image, origin="lower", extent=(0, 1, 0, 1))
    predicted = predict_labels(ExactSubstrate().run(net, encode(features))[-1])
    for k in range(classes):
        chosen = labels == k
        axis.scatter(*features[chosen].T, s=7, color=colours(k), label=f"class {k}")
    wrong = predicted != labels
    axis.scatter(*features[wrong].T, s=30, facecolors="none", edgecolors="k", lw=0.8,
                 label=f"wrong ({wrong.sum()})")
    axis.set(xlabel="x", ylabel="y", title=f"decision map, test accuracy {np.mean(~wrong):.1%}")
    axis.legend(fontsize="small", loc="upper right", framealpha=0.9)
    return save_figure(figure, path)
