"""Reproduce the published Yin-Yang networks: every model file x seeds, 300 epochs, test accuracy table.

Runs ``brian2-delgrad train models/<name>.toml --seed S --out DIR/<name>/seed<S>`` for
each published network and seed (in parallel, one process per core; each
run resumes if interrupted), then prints a Markdown table with every seed,
the median, and the published single-run figure. Takes about 5 minutes on
2 cores; not part of the test suite.

    python benchmarks/reproduce_published.py [--seeds 0 1 2] [--out results/published] [--jobs 2]
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"yinyang_h30_w": 96.7, "yinyang_h30_wa": 97.5, "yinyang_h30_wd": None, "yinyang_h30_ws": 98.2,
             "yinyang_h5_ws": 95.4}
TARGET = {"yinyang_h30_w": 96.5, "yinyang_h30_wa": 97.0, "yinyang_h30_wd": 97.0, "yinyang_h30_ws": 97.8,
          "yinyang_h5_ws": 94.5}


def train(model, seed, out):
    folder = out / model / f"seed{seed}"
    command = [sys.executable, "-m", "brian2_delgrad", "train", str(ROOT / "models" / f"{model}.toml"),
               "--seed", str(seed), "--out", str(folder), "--quiet"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((folder / "summary.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "published")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    runs = [(model, seed) for model in PUBLISHED for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        summaries = list(pool.map(lambda run: train(*run, args.out), runs))
    print("| network | parameters | test accuracy per seed (%) | median (%) | last epoch, median (%) "
          "| target (%) | published (%) | s/epoch |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for model in PUBLISHED:
        rows = [s for s in summaries if s["model"] == model]
        accuracies = [100 * s["test_accuracy"] for s in rows]
        last = [100 * s["test_accuracy_last"] for s in rows]
        per_seed = ", ".join(f"{a:.1f} (seed {s['seed']}, epoch {s['selected_epoch']})"
                             for a, s in zip(accuracies, rows))
        published = "-" if PUBLISHED[model] is None else f"{PUBLISHED[model]:.1f}"
        print(f"| {model} | {rows[0]['n_parameters']} | {per_seed} | {np.median(accuracies):.1f} | "
              f"{np.median(last):.1f} | {TARGET[model]:.1f} | {published} | "
              f"{np.median([s['seconds_per_epoch'] for s in rows]):.3f} |")


if __name__ == "__main__":
    main()
