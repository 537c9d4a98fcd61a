"""Substrates: forward passes that turn input spike times into the spike times of every layer."""
from .exact import ExactSubstrate

__all__ = ["ExactSubstrate"]
