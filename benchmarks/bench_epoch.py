"""Seconds per training epoch from the CLI, this checkout against another one, measured side by side.

One epoch of ``brian2-delgrad train MODEL`` is everything an epoch does: the training batches, the
validation pass, the history and the checkpoint. Each checkout's CLI runs in its own process for
``--epochs`` epochs; the time between the ends of consecutive checkpoint writes is one epoch (the
median over the epochs of a run is taken). The two checkouts take turns, ``--repeats`` times; the
medians and their ratio are printed.

    git worktree add /tmp/before <commit>
    python benchmarks/bench_epoch.py --baseline /tmp/before [--model models/yinyang_h30_ws.toml] [--epochs 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


#: Run in the checkout's own process: the CLI, with the end of every checkpoint write timed.
DRIVER = """
import json, sys, time
from brian2_delgrad import cli
try:
    from brian2_delgrad.training import trainer as training      # the layered tree
except ImportError:
    from brian2_delgrad import training                          # a checkout from before it
assert training.__file__.startswith(sys.argv.pop(1)), training.__file__
ends = []
save = training.Trainer._save
def timed_save(self, path):
    save(self, path)
    ends.append(time.perf_counter())
training.Trainer._save = timed_save
cli.main(sys.argv[1:])
print(json.dumps([b - a for a, b in zip(ends, ends[1:])]))
"""


def epoch_seconds(tree, model, epochs, folder, threads):
    """Median seconds per epoch of ``train`` of ``model`` for ``epochs`` epochs with the package of ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    if threads is not None:
        env["BRIAN2_DELGRAD_THREADS"] = str(threads)
    # run from inside the checkout: "python -c" puts the working directory first on the import path
    result = subprocess.run([sys.executable, "-c", DRIVER, str(tree), "train", str(tree / model), "--epochs", str(epochs),
                             "--quiet", "--restart", "--out", str(folder)], env=env, check=True, capture_output=True,
                            text=True, cwd=tree)
    return statistics.median(json.loads(result.stdout.strip().splitlines()[-1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout (e.g. a git worktree) to compare with")
    parser.add_argument("--model", default="models/yinyang_h30_ws.toml", help="model file, relative to each checkout")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="BRIAN2_DELGRAD_THREADS for this checkout (default: all cores)")
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": HERE}
    per_epoch = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, tree in trees.items():
                threads = args.threads if name == "this" else None
                per_epoch[name].append(epoch_seconds(tree, args.model, args.epochs, Path(folder) / name, threads))
    print(f"{args.model}: seconds per epoch (training, validation, history, checkpoint), median of {args.repeats}")
    for name, values in per_epoch.items():
        print(f"  {name:>8} ({trees[name]}): {statistics.median(values):.4f} s  "
              f"[{', '.join(f'{v:.4f}' for v in values)}]")
    ratio = statistics.median(per_epoch["baseline"]) / statistics.median(per_epoch["this"])
    print(f"  this checkout is {ratio:.2f}x faster")


if __name__ == "__main__":
    main()
