"""The figures of one network: shown where no file is asked for, written (and never handed to pyplot) where one is."""
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brian2_delgrad import DelayNetwork
import pytest

from brian2_delgrad.experiments.network_plots import plot_decision_map, plot_delays, plot_raster, plot_receptive_fields
from brian2_delgrad.experiments.plots import plot_training


def test_importing_the_figures_leaves_the_backend_alone():
    code = "import matplotlib; import brian2_delgrad.experiments.network_plots; print(matplotlib.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], env={"MPLBACKEND": "svg", "PATH": ""}, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "svg"


def test_without_a_path_each_function_returns_a_pyplot_figure_with_a_path_it_writes_a_png(tmp_path):
    net = DelayNetwork([4, 6, 3], delays="axonal", seed=0)
    inputs = np.array([1.0, 2.0, 3.0, 4.0]) * 1e-3
    encode = lambda points: np.c_[points, 1 - points] * 1e-2 + 1e-3      # noqa: E731
    history = pd.DataFrame(dict(epoch=[0, 1, 1], split=["validation", "train", "validation"], loss=[1.0, 0.6, 0.5],
                                accuracy=[0.3, 0.5, 0.6]))
    draws = dict(raster=lambda path: plot_raster(net, inputs, 1, path),
                 delays=lambda path: plot_delays(net, net.copy(), path),
                 decision_map=lambda path: plot_decision_map(net, encode, np.full((5, 2), 0.5), np.zeros(5, int), path,
                                                             resolution=10),
                 training=lambda path: plot_training(history, path),
                 receptive_fields=lambda path: plot_receptive_fields(net, (2, 2), path))
    plt.close("all")
    for name, draw in draws.items():
        shown = draw(None)
        assert shown.number in plt.get_fignums() and shown.axes, name
        written = draw(tmp_path / f"{name}.png")
        assert not hasattr(written, "number") and written.axes, name
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert len(plt.get_fignums()) == len(draws)
    plt.close("all")
    assert plot_delays(DelayNetwork([4, 6, 3], delays="none"), DelayNetwork([4, 6, 3], delays="none")) is None


def test_receptive_fields_are_the_weights_and_delays_into_the_neurons_with_the_strongest_outputs():
    net = DelayNetwork([4, 6, 3], delays="axonal+synaptic", seed=0)
    figure = plot_receptive_fields(net, (2, 2), count=2)
    strongest = np.argsort(-np.abs(net.weights[1]).sum(axis=1))[:2]
    images = [axis.images[0].get_array() for axis in figure.axes if axis.images]
    assert len(images) == 4                                # weights, then delays, of two neurons
    for column, neuron in enumerate(strongest):
        assert np.array_equal(images[column], net.weights[0][:, neuron].reshape(2, 2))
        assert np.allclose(images[2 + column], net.total_delays(0)[:, neuron].reshape(2, 2) * 1e3, rtol=1e-12)
    plt.close("all")
    with pytest.raises(ValueError, match=r"plot_receptive_fields: a network of 9 inputs \(image \(3, 3\)\)"):
        plot_receptive_fields(net, (3, 3))
