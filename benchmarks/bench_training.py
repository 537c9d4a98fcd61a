"""Seconds per training epoch of each published network (models/*.toml), exact substrate.

One epoch = 5000 Yin-Yang training samples in minibatches of 150 (forward,
backward, Adam update) plus the evaluation of the 1000 validation samples.
Prints the median over epochs after a warm-up epoch (numba compilation and
SymPy derivation happen once per process and are reported separately).

    python benchmarks/bench_training.py [--epochs N] [models/x.toml ...]
"""
import argparse
import glob
import time
from pathlib import Path

from brian2_delgrad.files.modelfile import load_model_file

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=sorted(glob.glob(str(ROOT / "models" / "*.toml"))))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    print(f"{'model':18s} {'parameters':>10s} {'start-up + first epoch (s)':>27s} {'s/epoch (median)':>17s}")
    for path in args.models:
        description = load_model_file(path)
        net = description.network(seed=0)
        trainer = description.trainer(net, seed=0, progress=False)
        train, validation = description.data("train"), description.data("validation")
        start = time.perf_counter()
        history = trainer.fit(*train, validation=validation, epochs=args.epochs + 1)
        total = time.perf_counter() - start
        train_rows = history[history.split == "train"]
        per_epoch = train_rows.loc[train_rows.epoch > 1, "wall_time"].median()
        first = total - train_rows.loc[train_rows.epoch > 1, "wall_time"].sum()
        print(f"{description.name:18s} {net.n_parameters:10d} {first:27.2f} {per_epoch:17.4f}")


if __name__ == "__main__":
    main()
