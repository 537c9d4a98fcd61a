"""The exact event-based numerics: the SymPy-derived kernel, the compiled forward and backward
passes, the gradient check."""
