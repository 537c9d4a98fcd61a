"""What Brian2's time step does to a trained network: spike-time error, accuracy and gradients against dt.

Trains 4-30-3 + synaptic delays on the exact substrate (models/yinyang_h30_ws.toml,
``--epochs`` epochs, or loads ``--parameters`` written by ``brian2-delgrad train``),
then runs the 1000 Yin-Yang test samples (``--split train``: the 5000
training samples) through Brian2 (cython target) at several dt, with precise and with grid timing, and prints per (timing, dt): the
median and 99th percentile of |t_brian2 - t_exact| in units of dt, the share
of spikes within 2 dt, the share of samples with the same class decision, the
test accuracy, and how many of the batches of 150 give gradients (from the
recorded spikes) with cosine similarity >= 0.99 to the exact ones for every
parameter tensor, with the smallest such cosine.

    python benchmarks/bench_dt.py [--dt 1 5 10 20 50 100] [--timing precise grid] [--epochs 60]
                                  [--parameters FILE] [--split test|train]
"""
import argparse

import numpy as np
from brian2 import us

from brian2_delgrad import Brian2Substrate, DelayNetwork, ExactSubstrate, backward
from brian2_delgrad.training.losses import predict_labels
from brian2_delgrad.files.modelfile import load_model_file

BATCH = 150


def gradient_cosines(net, loss, exact, simulated, labels):
    """Per batch of BATCH samples: the smallest cosine similarity over the parameter tensors."""
    tau = net.model.tau_s_
    smallest = []
    for begin in range(0, len(labels) - BATCH + 1, BATCH):
        part = slice(begin, begin + BATCH)
        grads = []
        for times in (exact, simulated):
            times = [t[part] for t in times]
            grads.append(backward(net, times, loss(times[-1], labels[part], tau)[1]))
        tensors = list(zip(grads[0].weights, grads[1].weights))
        tensors += [(a[p], b[p]) for a, b in zip(grads[0].delays, grads[1].delays) for p in a]
        cosines = [np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in tensors]
        smallest.append(np.min(np.nan_to_num(cosines, nan=-np.inf)))   # a zero gradient on one side: no agreement
    return np.array(smallest)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt", type=float, nargs="+", default=[1, 5, 10, 20, 50, 100])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--parameters", help="parameters.npz of a trained network")
    parser.add_argument("--target", default="cython")
    parser.add_argument("--timing", nargs="+", default=["precise", "grid"], choices=["precise", "grid"])
    parser.add_argument("--split", default="test", choices=["test", "train"],
                        help="samples to run and take the gradients of (default: test)")
    args = parser.parse_args()
    description = load_model_file("models/yinyang_h30_ws.toml")
    if args.parameters:
        net = DelayNetwork.load(args.parameters)
    else:
        net = description.network(seed=0)
        description.trainer(net, seed=0, progress=False).fit(*description.data("train"),
                                                             validation=description.data("validation"),
                                                             epochs=args.epochs)
    inputs, labels = description.data(args.split)
    exact = ExactSubstrate().run(net, inputs)
    exact_prediction = predict_labels(exact[-1])
    print(f"exact substrate: {args.split} accuracy {np.mean(exact_prediction == labels):.3f}")
    print(f"{'timing':>8s} {'dt (us)':>8s} {'median |err| (dt)':>18s} {'99% |err| (dt)':>15s} {'within 2 dt':>12s} "
          f"{'same decision':>14s} {'accuracy':>9s} {'gradient batches >= 0.99':>25s} {'min cosine':>11s}")
    for timing in args.timing:
        for dt in args.dt:
            simulated = Brian2Substrate(dt=dt * us, target=args.target, batch_size=250,
                                        timing=timing).run(net, inputs)
            both = [np.isfinite(a) & np.isfinite(b) for a, b in zip(exact[1:], simulated[1:])]
            errors = np.concatenate([np.abs(b[m] - a[m]) for a, b, m in zip(exact[1:], simulated[1:], both)])
            errors /= dt * 1e-6
            prediction = predict_labels(simulated[-1])
            cosines = gradient_cosines(net, description.loss, exact, simulated, labels)
            print(f"{timing:>8s} {dt:8g} {np.median(errors):18.2g} {np.percentile(errors, 99):15.2g} "
                  f"{np.mean(errors <= 2):12.4f} {np.mean(prediction == exact_prediction):14.4f} "
                  f"{np.mean(prediction == labels):9.3f} {np.sum(cosines >= 0.99):>20d} of {len(cosines)} "
                  f"{cosines.min():11.3f}")


if __name__ == "__main__":
    main()
