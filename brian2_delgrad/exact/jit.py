"""The mark of a function that is compiled into every kernel's module (:mod:`~brian2_delgrad.exact.kernel_source`).

The loops of the compiled passes call a kernel's SymPy-derived functions (``statistics_at``, ``membrane``,
``psp_and_slope``, ...) and constants (``RATE``, ``CLOSED``) by name. They are written here as plain Python functions; each kernel's module holds their source after the
kernel's own functions, compiled by numba with its disk cache, so a machine compiles a kernel once.
"""

__all__ = ["jit", "jit_options"]


def jit(**options):
    """Mark a function for the kernels' modules, compiled with ``numba.njit(error_model="numpy", **options)``.

    The function itself is returned unchanged: plain Python, which runs where it needs no kernel name (the sort,
    Lambert W); the loops run only in a kernel's module.
    """
    def mark(function):
        function.numba_options = dict(error_model="numpy", **options)
        return function
    return mark


def jit_options(function):
    """The numba options of a marked function, ``None`` for any other object."""
    return getattr(function, "numba_options", None)
