"""How the exact substrate scales with fan-in: forward + backward samples/s and cost per synapse.

For 64-100-10, 256-246-10 and 784-350-10 networks, weights only and + synaptic delays, batch 100 of random
input times (uniform in (0.15, 2) tau_s), weights N(4/fan_in, 2/fan_in) so that most neurons fire: prints
the median time of forward + backward (``ExactSubstrate().run`` + ``backward``), samples per second, the
cost per synapse and sample (ns) relative to the 64-100-10 network, and the peak memory of one batch
(tracemalloc, which counts NumPy's allocations).

    python benchmarks/bench_scale.py [--repeats N] [--batch B]
"""
import argparse
import time
import tracemalloc

import numpy as np

from brian2_delgrad import DelayNetwork, ExactSubstrate, backward

SIZES = ([64, 100, 10], [256, 246, 10], [784, 350, 10])


def step(net, inputs):
    times = ExactSubstrate().run(net, inputs)
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    backward(net, times, error)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, median of {args.repeats} runs; the kernels run on one thread")
    print(f"{'network':>12} {'delays':>9} {'synapses':>9} {'spiking':>8} {'s/batch':>8} {'samples/s':>10} "
          f"{'ns/synapse':>10} {'vs 64-100':>9} {'peak MB':>8}")
    reference = {}
    for sizes in SIZES:
        inputs = rng.uniform(0.15, 2.0, size=(args.batch, sizes[0])) * 5e-3
        for delays in ("none", "synaptic"):
            net = DelayNetwork(sizes, delays=delays, seed=0,
                               weight_init=[(4.0 / n, 2.0 / n) for n in sizes[:-1]])
            times = step(net, inputs)                # warm up: kernel derivation, numba compilation
            durations = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                step(net, inputs)
                durations.append(time.perf_counter() - start)
            tracemalloc.start()
            step(net, inputs)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            seconds = float(np.median(durations))
            synapses = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
            per_synapse = seconds / (args.batch * synapses) * 1e9
            reference.setdefault(delays, per_synapse)
            spiking = np.mean([np.isfinite(t).mean() for t in times[1:]])
            print(f"{'-'.join(map(str, sizes)):>12} {delays:>9} {synapses:>9} {spiking:>8.2f} {seconds:>8.3f} "
                  f"{args.batch / seconds:>10.0f} {per_synapse:>10.1f} {per_synapse / reference[delays]:>8.1f}x "
                  f"{peak / 2**20:>8.0f}")


if __name__ == "__main__":
    main()
