"""brian2_delgrad: exact event-based gradients for weights and transmission delays in Brian2 networks.

The public names are imported on first use (``brian2_delgrad.DelayNetwork`` loads Brian2, SymPy
and numba then), so that the command line answers at once where it needs none of them.
"""
import importlib
import importlib.util

#: Public name -> the module that holds it.
_PUBLIC = {
    "LIFModel": "core.lif", "DelayNetwork": "core.network", "ExactSubstrate": "substrates.exact",
    "Brian2Substrate": "substrates.brian2", "Noise": "substrates.noise", "backward": "exact.gradients",
    "Gradients": "exact.gradients", "gradcheck": "exact.gradcheck", "to_brian2": "brian2_io.export",
    "simulation_time": "brian2_io.export",
    "from_brian2": "brian2_io.reader", "to_nir": "brian2_io.nir_graphs", "from_nir": "brian2_io.nir_graphs", "Trainer": "training.trainer", "ShiftInvariantMSE": "training.losses",
    "TTFSCrossEntropy": "training.losses", "load_model_file": "files.modelfile",
    "HardwareProfile": "substrates.profiles", "PROFILES": "substrates.profiles", "get_profile": "substrates.profiles",
    "load_study": "files.studyfile", "run_study": "experiments.study",
    "set_num_threads": "utils.threads", "get_num_threads": "utils.threads",
}
__all__ = list(_PUBLIC)
__version__ = "0.3.0"


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:     # a subpackage: brian2_delgrad.datasets
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'brian2_delgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
