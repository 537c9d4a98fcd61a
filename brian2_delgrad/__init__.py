"""brian2_delgrad: exact event-based gradients for weights and transmission delays in Brian2 networks."""
from .gradients import Gradients, backward
from .losses import ShiftInvariantMSE, TTFSCrossEntropy
from .model import LIFModel
from .modelfile import load_model_file
from .network import DelayNetwork
from .profiles import PROFILES, HardwareProfile, get_profile
from .study import run_study
from .studyfile import load_study
from .substrates import Brian2Substrate, ExactSubstrate, Noise
from .threads import get_num_threads, set_num_threads
from .training import Trainer

__all__ = ["LIFModel", "DelayNetwork", "ExactSubstrate", "Brian2Substrate", "Noise", "backward", "Gradients", "Trainer",
           "ShiftInvariantMSE", "TTFSCrossEntropy", "load_model_file", "HardwareProfile", "PROFILES", "get_profile", "load_study",
           "run_study", "set_num_threads", "get_num_threads"]
__version__ = "0.3.0"
