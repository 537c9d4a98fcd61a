"""The compiled kernels' disk cache: compiled once per machine, shared by processes, damaged entries rebuilt."""
import hashlib
import os
import subprocess
import sys

import pytest

from brian2_delgrad import LIFModel
from brian2_delgrad.exact import kernel_cache
from brian2_delgrad.exact.kernel_cache import CACHE_ENVIRONMENT, kernel_module

#: A forward pass on one thread in a fresh process; prints a hash of the spike times.
SCRIPT = """
import hashlib, numpy as np
from brian2_delgrad import DelayNetwork, ExactSubstrate
net = DelayNetwork([4, 6, 2], delays="synaptic", seed=1, weight_init=(1.0, 0.5))
x = np.random.default_rng(1).uniform(0.15, 2.0, size=(40, 4)) * 5e-3
times = ExactSubstrate(threads=1).run(net, x)
print(hashlib.sha256(b"".join(t.tobytes() for t in times)).hexdigest())
"""


def _run(folder, count=1):
    """Run :data:`SCRIPT` in ``count`` processes at once with the cache ``folder``; their (stdout, stderr)."""
    env = dict(os.environ, **{CACHE_ENVIRONMENT: str(folder)})
    env.pop("BRIAN2_DELGRAD_QUIET", None)
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(count)]
    results = [process.communicate() for process in processes]
    assert all(process.returncode == 0 for process in processes), results
    return [(out.strip(), err) for out, err in results]


def test_compiled_once_shared_by_processes_and_rebuilt_when_damaged_or_deleted(tmp_path):
    """Two processes start on an empty cache at once (the first to compile announces it, with the time it took;
    the other may load what the first wrote); the next one loads it silently; a damaged module or damaged numba
    files are rebuilt with a notice; so is a deleted cache. Every process computes the same spike times, bit
    for bit."""
    folder = tmp_path / "kernels"
    first = _run(folder, count=2)
    expected = first[0][0]
    assert first[1][0] == expected
    assert any("compiling the exact simulator's kernels for this machine" in err and str(folder) in err
               and "compiled the forward pass and training step in " in err for _, err in first), first
    (entry,) = folder.iterdir()
    module = next(entry.glob("kernel_*.py"))
    assert oct(entry.stat().st_mode & 0o777) == "0o700"
    assert any(entry.glob("__pycache__/*.nbi")), "numba's cache is beside the module"

    (out, err), = _run(folder)
    assert out == expected and "compil" not in err, err                  # loaded, not compiled

    module.write_text(module.read_text().replace("GROUP = 16", "GROUP = 17"))   # changed by hand
    (out, err), = _run(folder)
    assert out == expected and "damaged or not private: building it again" in err, err
    assert "GROUP = 16" in module.read_text()

    for path in entry.glob("__pycache__/*.nb[ic]"):                     # numba's files: garbage
        path.write_bytes(b"\x80\x04garbage" + path.read_bytes()[:20])
    (out, err), = _run(folder)
    assert out == expected and "did not load" in err and "compiled the forward pass and training step" in err, err

    subprocess.run(["rm", "-rf", str(folder)], check=True)
    (out, err), = _run(folder)
    assert out == expected and "compiled the forward pass and training step in " in err, err


#: A module of the kind the kernel cache imports: one function, compiled with numba's disk cache.
TWICE = """
import numba

@numba.njit(cache=True)
def twice(x):
    return x + x
"""

#: Import :data:`TWICE` as the kernel cache does and call it with one kind of argument; numba's index written
#: slowly (every process reads it before any has written it, unless they take turns).
CALLER = """
import sys, time
from pathlib import Path
import numpy as np
import numba.core.caching as caching
from brian2_delgrad.exact.kernel_cache import _import
if sys.argv[3] == "slow":
    save_index = caching.IndexDataCacheFile._save_index
    caching.IndexDataCacheFile._save_index = lambda self, overloads: time.sleep(0.5) or save_index(self, overloads)
argument = dict(int=3, float=2.5, complex=1 + 2j, array=np.arange(3.0))[sys.argv[2]]
print(repr(_import(Path(sys.argv[1])).twice(argument)))
"""


def test_processes_saving_different_overloads_at_once_take_turns(tmp_path):
    """Four processes compile a function for four argument types at once into one cache: each overload keeps its
    own entry (without the lock, all four would be saved as the first one and the index would name one's code
    for another: wrong results or a crash where the next process loads them)."""
    module = tmp_path / "kernel_twice.py"
    module.write_text(TWICE)
    kinds = dict(int="6", float="5.0", complex="(2+4j)", array="array([0., 2., 4.])")

    def run(kinds, speed):
        processes = {kind: subprocess.Popen([sys.executable, "-c", CALLER, str(module), kind, speed],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for kind in kinds}
        return {kind: (process.communicate(), process.returncode) for kind, process in processes.items()}

    for kind, ((out, err), code) in run(kinds, "slow").items():
        assert code == 0 and out.strip() == kinds[kind], (kind, out, err)
    assert len(list(tmp_path.glob("__pycache__/*.nbc"))) == 4
    for kind, ((out, err), code) in run(kinds, "fast").items():          # loaded from the cache, each its own
        assert code == 0 and out.strip() == kinds[kind], (kind, out, err)


def _found_again(model):
    """``kernel_module(model)`` looked up afresh (this process forgets what it found before)."""
    kernel_cache._module.cache_clear()
    try:
        return kernel_module(model)
    finally:
        kernel_cache._module.cache_clear()


def test_a_cache_folder_others_could_write_to_is_never_used(tmp_path, monkeypatch, capsys):
    """A kernel folder of the user's that others can write to is deleted and built again; a cache inside a
    folder others can write to (no sticky bit) is not used at all: the process builds in a temporary folder."""
    root = tmp_path / "shared"
    monkeypatch.setenv(CACHE_ENVIRONMENT, str(root / "kernels"))
    model = LIFModel(theta=1.25)                        # any model: the kernel does not depend on theta
    own = _found_again(model)
    entry = os.path.dirname(own.__file__)
    assert entry.startswith(str(root)) and capsys.readouterr().err == ""
    planted = os.path.join(entry, "planted.txt")
    open(planted, "w").close()
    os.chmod(entry, 0o777)
    again = _found_again(model)
    assert again.__file__ == own.__file__ and not os.path.exists(planted)
    assert oct(os.stat(entry).st_mode & 0o777) == "0o700"
    assert f"the kernel cache folder {entry} was writable by other users: building it again" in \
        capsys.readouterr().err
    os.chmod(root, 0o777)                               # anyone could replace the folder inside
    try:
        other = _found_again(model)
    finally:
        os.chmod(root, 0o700)
    assert not other.__file__.startswith(str(root))
    assert f"is inside {root}, which other users can write to: compiling in" in capsys.readouterr().err
    with open(own.__file__, "rb") as a, open(other.__file__, "rb") as b:    # the same text
        assert hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENVIRONMENT, str(tmp_path / "mine"))
    assert kernel_cache.cache_folder() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENVIRONMENT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.cache_folder() == tmp_path / "xdg" / "brian2_delgrad" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kernel_cache.cache_folder() == tmp_path / "home" / ".cache" / "brian2_delgrad" / "kernels"
    monkeypatch.delenv("HOME")

    def no_home():
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(kernel_cache.Path, "home", no_home)   # no $HOME, no entry in the user database
    assert kernel_cache.cache_folder().parts[-2:] == (f"brian2_delgrad-{os.getuid()}", "kernels")


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.5])
def test_the_kernel_module_shares_one_exponential(ratio):
    """Each kernel function of one variable computes a single exponential (``exp(-s/2)**2`` for ``exp(-s)``)."""
    from brian2 import ms

    text = open(kernel_module(LIFModel(tau_m=ratio * 5 * ms, tau_s=5 * ms)).__file__).read()
    for name in ("statistics_at", "membrane", "slope", "psp_and_slope"):
        body = text.split(f"def {name}(")[1].split("\n\n")[0]
        assert body.count("math.exp(") == 1, body
