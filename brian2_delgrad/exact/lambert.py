"""Lambert W's principal branch, for the closed-form crossings of the compiled kernels (numba has none)."""
import math

from .jit import jit

__all__ = ["lambert_w0"]


@jit()
def lambert_w0(x):
    """Principal branch of Lambert W for real ``x >= -1/e`` (NaN below), by Halley iteration."""
    if not x >= -1.0 / math.e:
        return math.nan
    if x == 0.0:
        return 0.0
    if x < -0.25:                                  # near the branch point: series in sqrt(2 (e x + 1))
        p = math.sqrt(max(2.0 * (math.e * x + 1.0), 0.0))
        w = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
    elif x < 3.0:
        w = math.log1p(x) * 0.8
    else:
        lx = math.log(x)
        w = lx - math.log(lx)
    for _ in range(64):
        ew = math.exp(w)
        f = w * ew - x
        denominator = ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0)
        if denominator == 0.0:
            break
        step = f / denominator
        w -= step
        if abs(step) <= 4e-16 * (1.0 + abs(w)):
            break
    return w
