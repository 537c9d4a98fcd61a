"""How the exact substrate scales with fan-in and threads: forward + backward samples/s and cost per synapse.

For 64-100-10, 256-246-10 and 784-350-10 networks, weights only and + synaptic delays, batches of 100 random
input times (uniform in (0.15, 2) tau_s: every input spikes), weights N(4/fan_in, 2/fan_in) so that most
neurons fire, then (rows ``fashion``, where the data set is installed) 784-350-10 on 100 Fashion-MNIST
training images encoded as ``models/fashion_w.toml`` encodes them (black pixels silent) with its initial
weights, weights only and + synaptic delays: prints
the median time of forward + backward (``ExactSubstrate(threads=n).run`` + ``backward(..., threads=n)``)
on 1 thread and on every thread numba may start, a new batch each run (both thread counts take the same one:
a batch repeated would let the processor's branch predictor learn the kernels' data-dependent branches,
which flatters them by up to a quarter), samples per second, the cost per synapse and sample (ns)
relative to the 64-100-10 network at the same thread count, the speed-up over one thread, whether spike
times and gradients are identical bit for bit on every thread count, and the peak memory of one batch
(tracemalloc: NumPy's allocations; the kernels' per-thread scratch is a few vectors of n_pre).

    python benchmarks/bench_scale.py [--repeats N] [--batch B]
"""
import argparse
import time
import tracemalloc

import numba
import numpy as np

from brian2_delgrad import DelayNetwork, ExactSubstrate, backward

SIZES = ([64, 100, 10], [256, 246, 10], [784, 350, 10])


def step(net, inputs, threads):
    """Forward and backward pass of one batch; everything they return, as a list of arrays."""
    times = ExactSubstrate(threads=threads).run(net, inputs)
    error = np.where(np.isfinite(times[-1]), 1.0, 0.0)
    grads = backward(net, times, error, threads=threads)
    return times + grads.weights + [d for layer in grads.delays for d in layer.values()] + [grads.input_times]


def cases(batch, batches, rng):
    """``(label, sizes, delays, network, inputs)`` of every row, ``batches`` batches of inputs one after the other:
    the synthetic networks, then (where the data set is installed) 784-350-10 on Fashion-MNIST images as its model
    files encode them (black pixels silent, about half) with their initial weights."""
    for sizes in SIZES:
        inputs = rng.uniform(0.15, 2.0, size=(batch * batches, sizes[0])) * 5e-3
        for delays in ("none", "synaptic"):
            yield "-".join(map(str, sizes)), sizes, delays, DelayNetwork(
                sizes, delays=delays, seed=0, weight_init=[(4.0 / n, 2.0 / n) for n in sizes[:-1]]), inputs
    from brian2_delgrad import load_model_file

    description = load_model_file("fashion_w")
    try:
        inputs = description.data("train")[0][:batch * batches]
    except ValueError as err:                        # the files are missing: one line says how to get them
        print(f"no Fashion-MNIST rows: {err}")
        return
    for delays in ("none", "synaptic"):
        yield "fashion", description.sizes, delays, DelayNetwork(
            description.sizes, delays=delays, model=description.model, seed=0,
            weight_init=description.weight_init), inputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    counts = sorted({1, numba.config.NUMBA_NUM_THREADS})
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, median of {args.repeats} runs (a new batch each), threads {counts}")
    print(f"{'network':>12} {'delays':>9} {'synapses':>9} {'threads':>7} {'s/batch':>8} {'samples/s':>10} "
          f"{'ns/synapse':>10} {'vs 64-100':>9} {'speed-up':>8} {'identical':>9} {'peak MB':>8}")
    reference = {}
    for label, sizes, delays, net, inputs in cases(args.batch, args.repeats + 1, rng):
        batches = [inputs[k * args.batch:(k + 1) * args.batch] for k in range(args.repeats + 1)]
        results = {threads: step(net, batches[0], threads) for threads in counts}   # warm-up, compilation
        identical = all(a.tobytes() == b.tobytes() for threads in counts
                        for a, b in zip(results[counts[0]], results[threads]))
        durations = {threads: [] for threads in counts}
        for batch in batches[1:]:                       # thread counts take turns: same machine load
            for threads in counts:
                start = time.perf_counter()
                step(net, batch, threads)
                durations[threads].append(time.perf_counter() - start)
        tracemalloc.start()
        step(net, batches[0], counts[-1])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        synapses = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        spiking = np.mean([np.isfinite(t).mean() for t in results[counts[0]][1:len(sizes)]])
        for threads in counts:
            seconds = float(np.median(durations[threads]))
            per_synapse = seconds / (args.batch * synapses) * 1e9
            reference.setdefault((delays, threads), per_synapse)
            speedup = float(np.median(durations[1])) / seconds
            print(f"{label:>12} {delays:>9} {synapses:>9} {threads:>7} {seconds:>8.3f} "
                  f"{args.batch / seconds:>10.0f} {per_synapse:>10.1f} "
                  f"{per_synapse / reference[(delays, threads)]:>8.2f}x {speedup:>7.2f}x "
                  f"{'yes' if identical else 'NO':>9} {peak / 2**20:>8.1f}")
        print(f"{'':>12} {'':>9} {'':>9} spiking fraction {spiking:.2f}, inputs {np.isfinite(batches[0]).mean():.2f}")
    print(f"numba threading layer: {numba.threading_layer()}")


if __name__ == "__main__":
    main()
