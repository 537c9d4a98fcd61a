"""Brian2 in the loop: bare Brian2 forward runs against in-the-loop training epochs, per target.

For each target, one process-wide Brian2Substrate runs the 34 minibatches (150
samples) of a Yin-Yang epoch through 4-30-3 + synaptic delays at dt = 10 us:

* forward: the Brian2 runs alone (the simulation of every minibatch, parameters
  and inputs handed over, spikes read back), summed over the epoch;
* epoch: a full training epoch on the same minibatches with ``Trainer``
  (forward on Brian2, exact backward at the recorded spikes, Adam, missing-spike
  rule) plus the 1000 validation samples, as in the exact benchmarks.

Prints both, their ratio and the one-off build (compilation) time.

    python benchmarks/bench_brian2.py [--targets cpp_standalone cython numpy] [--epochs 3]
                                      [--timing precise|grid]
"""
import argparse
import time

import numpy as np
from brian2 import us

from brian2_delgrad import Brian2Substrate, backward
from brian2_delgrad.files.modelfile import load_model_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["cpp_standalone", "cython", "numpy"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="models/yinyang_h30_ws.toml")
    parser.add_argument("--timing", default="precise", choices=["precise", "grid"])
    args = parser.parse_args()
    description = load_model_file(args.model)
    X, y = description.data("train")
    validation = description.data("validation")
    batch = description.training["batch_size"]
    print(f"{'target':15s} {'build (s)':>10s} {'forward/epoch (s)':>18s} {'train epoch (s)':>16s} {'ratio':>6s}")
    for target in args.targets:
        net = description.network(seed=0)
        substrate = Brian2Substrate(dt=10 * us, target=target, batch_size=batch, timing=args.timing)
        start = time.perf_counter()
        times = substrate.run(net, X[:batch])                          # build (compile) once
        build = time.perf_counter() - start
        backward(net, times, np.where(np.isfinite(times[-1]), 1.0, 0.0))  # compile the exact backward too
        forward = []
        for _ in range(args.epochs):
            start = time.perf_counter()
            for begin in range(0, len(y), batch):
                substrate.run(net, X[begin:begin + batch])
            substrate.run(net, validation[0])
            forward.append(time.perf_counter() - start)
        trainer = description.trainer(net, seed=0, substrate=substrate, progress=False)
        history = trainer.fit(X, y, validation=validation, epochs=args.epochs)
        epoch = float(np.median(history.loc[history.split == "train", "wall_time"]))
        print(f"{target:15s} {build:10.1f} {np.median(forward):18.2f} {epoch:16.2f} "
              f"{epoch / np.median(forward):6.2f}")


if __name__ == "__main__":
    main()
