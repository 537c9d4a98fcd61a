"""Substrates: forward passes that turn input spike times into the spike times of every layer."""
from .brian2 import Brian2Substrate
from .exact import ExactSubstrate
from .noise import Noise

__all__ = ["ExactSubstrate", "Brian2Substrate", "Noise"]
