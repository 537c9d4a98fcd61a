"""Shared fixtures and helpers for the test suite."""
import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
from brian2 import ms

from brian2_delgrad import ExactSubstrate, LIFModel
from brian2_delgrad.exact.kernel_cache import CACHE_ENVIRONMENT

TAU_S = 5e-3

# The suite compiles its kernels into a kernel cache of its own, empty at the start (as on a new machine) and
# shared by its subprocesses (command-line runs, dask workers); set BRIAN2_DELGRAD_CACHE_DIR to keep one.
if CACHE_ENVIRONMENT not in os.environ:
    os.environ[CACHE_ENVIRONMENT] = tempfile.mkdtemp(prefix="brian2_delgrad_test_kernels_")
    atexit.register(shutil.rmtree, os.environ[CACHE_ENVIRONMENT], True)
# One thread unless a test asks for more: the one-thread kernels compile in half the time. The several-thread
# kernels are held to them bit for bit in test_threads.py, which asks for its thread counts explicitly.
os.environ.setdefault("BRIAN2_DELGRAD_THREADS", "1")


def reference_psp(s, ratio):
    """The PSP of a unit input from REFERENCE.md, typed independently of the package (s in tau_s)."""
    s = np.asarray(s, dtype=float)
    if ratio == 1.0:
        value = s * np.exp(-s)
    else:
        value = ratio / (ratio - 1) * (np.exp(-s / ratio) - np.exp(-s))
    return np.where(s > 0, value, 0.0)


def yin_yang_like_inputs(batch, n_in=4, seed=0):
    """Input spike times uniform in (0.15, 2) tau_s, in seconds, shape (batch, n_in)."""
    return np.random.default_rng(seed).uniform(0.15, 2.0, size=(batch, n_in)) * TAU_S


@pytest.fixture(params=[1.0, 2.0, 1.5], ids=["ratio1", "ratio2", "ratio1.5"])
def model(request):
    """A LIF model for each tau_m/tau_s checked in the acceptance criteria."""
    return LIFModel(tau_m=request.param * 5 * ms, tau_s=5 * ms)


def robust_decisions(net, inputs, relative=1e-3):
    """Neurons whose spike/no-spike decision survives a threshold change of +-0.1 % (not grazing)."""
    decisions = []
    for factor in (1 - relative, 1 + relative):
        probe = net.copy()
        probe.model = LIFModel(tau_m=net.model.tau_m, tau_s=net.model.tau_s, theta=net.model.theta * factor)
        decisions.append([np.isfinite(t) for t in ExactSubstrate().run(probe, inputs)])
    return [low == high for low, high in zip(*decisions)]
