"""brian2_delgrad: exact event-based gradients for weights and transmission delays in Brian2 networks."""
from .gradients import Gradients, backward
from .model import LIFModel
from .network import DelayNetwork
from .substrates import ExactSubstrate

__all__ = ["LIFModel", "DelayNetwork", "ExactSubstrate", "backward", "Gradients"]
__version__ = "0.1.0"
