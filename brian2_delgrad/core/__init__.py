"""The network's description: the LIF model, delay placements, DelayNetwork (parameters only)."""
