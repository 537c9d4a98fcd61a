"""Substrates: forward passes that turn input spike times into the spike times of every layer."""
from .base import Substrate
from .brian2 import Brian2Substrate
from .exact import ExactSubstrate
from .noise import Noise
from .registry import SUBSTRATES, make_substrate, register_substrate

__all__ = ["Substrate", "ExactSubstrate", "Brian2Substrate", "Noise", "SUBSTRATES", "make_substrate",
           "register_substrate"]
