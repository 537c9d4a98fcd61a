"""brian2_delgrad: exact event-based gradients for weights and transmission delays in Brian2 networks.

The public names are imported on first use (``brian2_delgrad.DelayNetwork`` loads Brian2, SymPy
and numba then), so that the command line answers at once where it needs none of them.
"""
import importlib
import importlib.util

#: Public name -> the module that holds it.
_PUBLIC = {
    "LIFModel": "model", "DelayNetwork": "network", "ExactSubstrate": "substrates",
    "Brian2Substrate": "substrates", "Noise": "substrates", "backward": "gradients", "Gradients": "gradients",
    "Trainer": "training", "ShiftInvariantMSE": "losses", "TTFSCrossEntropy": "losses",
    "load_model_file": "modelfile", "HardwareProfile": "profiles", "PROFILES": "profiles",
    "get_profile": "profiles", "load_study": "studyfile", "run_study": "study",
    "set_num_threads": "threads", "get_num_threads": "threads",
}
__all__ = list(_PUBLIC)
__version__ = "0.3.0"


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:     # a submodule: brian2_delgrad.tables
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'brian2_delgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
