"""Throughput of the exact substrate: forward and forward+backward of a 4-30-3 synaptic-delay network.

Prints samples per second at batch 150 and 5000 (median of repeated runs, a new batch of inputs each: one batch
repeated lets the processor's branch predictor learn the kernels' data-dependent branches), and
the ratio to a plain Brian2 run of the same 150 samples (runtime numpy
target, dt = 10 us, the network's block-diagonal copies), as the one
reference every Brian2 user knows.

    python benchmarks/bench_exact.py [--repeats N] [--no-brian2]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from brian2_delgrad import DelayNetwork, ExactSubstrate, backward


def median_time(function, batches):
    """Median seconds of ``function(batch)`` over ``batches[1:]`` (``batches[0]`` warms up: kernel loading, caches)."""
    function(batches[0])
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        function(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-brian2", action="store_true", help="skip the Brian2 reference run")
    args = parser.parse_args()
    net = DelayNetwork([4, 30, 3], delays="synaptic", seed=0)
    substrate = ExactSubstrate()
    rng = np.random.default_rng(0)
    print(f"network {net!r}, {net.n_parameters} parameters")
    forward_150 = None
    for batch in (150, 5000):
        batches = [rng.uniform(0.15, 2.0, size=(batch, 4)) * 5e-3 for _ in range(args.repeats + 1)]

        def forward(inputs):
            return substrate.run(net, inputs)

        def forward_backward(inputs):
            times = substrate.run(net, inputs)
            return backward(net, times, np.where(np.isfinite(times[-1]), 1.0, 0.0))

        t_f = median_time(forward, batches)
        t_fb = median_time(forward_backward, batches)
        forward_150 = forward_150 or t_f
        print(f"batch {batch:5d}: forward {t_f * 1e3:8.2f} ms ({batch / t_f:10.0f} samples/s)   "
              f"forward+backward {t_fb * 1e3:8.2f} ms ({batch / t_fb:10.0f} samples/s)")
    if not args.no_brian2:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from brian2_reference import brian2_spike_times

        inputs = np.round(rng.uniform(0.15, 2.0, size=(150, 4)) * 5e-3 / 1e-5) * 1e-5
        start = time.perf_counter()
        brian2_spike_times(net, inputs, 1e-5, 0.04)
        t_b = time.perf_counter() - start
        print(f"plain Brian2 (numpy target, dt 10 us, 40 ms) batch 150: {t_b * 1e3:.0f} ms; "
              f"exact forward is {t_b / forward_150:.0f}x faster")


if __name__ == "__main__":
    main()
