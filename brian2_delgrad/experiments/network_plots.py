"""Pictures of one trained network: a spike raster of a sample, its learned delays, its decision map, the weights
and delays into hidden neurons drawn as images.

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

__all__ = ["plot_raster", "plot_delays", "plot_decision_map", "plot_receptive_fields"]


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
    heights = [min(4.0, max(1.0, 0.25 + n / 40)) for n in net.sizes]   # wide layers: at most 4 inches
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


def plot_receptive_fields(net, image_shape, path=None, count=8):
    """The weights (and, with delays, the delays) from an image's pixels into a few first-layer neurons, as images.

    The neurons shown are the ``count`` with the largest summed ``|weight|`` to the next layer: those the
    decision leans on most.

    Parameters
    ----------
    net : DelayNetwork
        A network whose inputs are the pixels of an image, in row-major order.
    image_shape : tuple of int
        ``(rows, columns)`` of the image, e.g. ``(28, 28)``; their product is the number of inputs.
    path : str or Path, optional
        PNG file; ``None``: a pyplot figure, to show or save yourself.
    count : int
        Neurons shown (at most the first layer's size).

    Returns
    -------
    matplotlib.figure.Figure
        One column per neuron: its weights (red excitatory, blue inhibitory, one colour scale for all) and, where
        the first connection layer has delays, the delay of each pixel's synapse onto it (milliseconds, the sum
        of the placements).
    """
    if int(np.prod(image_shape)) != net.sizes[0] or len(net.sizes) < 3:
        raise ValueError(f"plot_receptive_fields: a network of {int(np.prod(image_shape))} inputs (image "
                         f"{tuple(image_shape)}) and a hidden layer expected, got sizes {list(net.sizes)}")
    weights = np.where(net.connectivity[0], net.weights[0], 0.0)
    influence = np.abs(net.weights[1]).sum(axis=1)
    shown = np.argsort(-influence, kind="stable")[:count]
    delays = net.total_delays(0) * 1e3 if net.placements[0] else None
    rows = 1 if delays is None else 2
    figure = new_figure(path, figsize=(1.5 * len(shown) + 0.8, 1.7 * rows + 0.5))
    axes = figure.subplots(rows, len(shown), squeeze=False)
    limit = float(np.abs(weights[:, shown]).max()) or 1.0
    for column, neuron in enumerate(shown):
        image = axes[0][column].imshow(weights[:, neuron].reshape(image_shape), cmap="RdBu_r", vmin=-limit,
                                       vmax=limit)
        axes[0][column].set_title(f"neuron {neuron}", fontsize="small")
        if delays is not None:
            delay_image = axes[1][column].imshow(delays[:, neuron].reshape(image_shape), cmap="viridis",
                                                 vmin=delays.min(), vmax=delays.max())
    figure.colorbar(image, ax=list(axes[0]), label="weight", shrink=0.8)
    if delays is not None:
        figure.colorbar(delay_image, ax=list(axes[1]), label="delay (ms)", shrink=0.8)
    for axis in axes.flat:
        axis.set(xticks=[], yticks=[])
    axes[0][0].set_ylabel("weights")
    if delays is not None:
        axes[1][0].set_ylabel(placement_label(net.placements[0]))
    figure.suptitle(f"into hidden layer 1: the {len(shown)} neurons with the strongest outputs")
    return save_figure(figure, path)
