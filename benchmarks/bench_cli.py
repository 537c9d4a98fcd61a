"""``brian2-delgrad train`` from the command line: start-up, seconds per epoch, whole runs, threads, and the ratio
to the authors' reference implementation, all measured side by side in one run.

    python benchmarks/bench_cli.py [--model yinyang_h30_ws] [--epochs 300] [--repeats 3] [--busy]
                                   [--reference CHECKOUT --reference-python PYTHON]

1. Start-up: ``import brian2``; ``import brian2_delgrad.cli``; a one-epoch ``train`` with the kernels in the
   cache (warm) and with an empty kernel cache (cold: the run states its compile time).
2. The whole ``train MODEL --epochs N`` start to finish on the default threads, one thread and two threads,
   taking turns, ``--repeats`` times; seconds per epoch = (whole run - one-epoch run) / (N - 1): everything an
   epoch costs (training, validation, history, checkpoint).
3. ``--reference CHECKOUT``: the authors' implementation (a checkout of github.com/JulianGoeltz/fastAndDeep, run
   with ``--reference-python``, a Python with PyTorch and its requirements) trains the same network, its published
   ``experiment_configs/yin_yang_H30_WS.yaml`` (4-30-3, synaptic delays, batch 150), for 10 epochs on the CPU
   between our runs. Its seconds per epoch are timed between its "Starting training" and "Ending training" lines
   (validation included, as ours); its whole training is its own reported duration for 10 epochs, scaled to N.
   Nothing of it is copied: it runs in its own process. (Its import of torchvision is only used for MNIST; where
   no CPU build of torchvision installs, an empty ``torchvision`` package on ``PYTHONPATH`` does.)
4. ``--busy``: all of it while another process keeps one core busy (a Python busy loop).

Medians and ratios are printed; the machine is shared, so compare only figures of one run.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command, env=None):
    """Seconds of ``command`` (a list) start to finish, and its standard error; fails loudly if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout, result.stderr


def train(model, epochs, folder, threads=None, cache=None):
    """Seconds of ``brian2-delgrad train`` start to finish (a fresh output folder), and its standard error."""
    env = dict(os.environ)
    env.pop("BRIAN2_DELGRAD_QUIET", None)
    if threads is not None:
        env["BRIAN2_DELGRAD_THREADS"] = str(threads)
    if cache is not None:
        env["BRIAN2_DELGRAD_CACHE_DIR"] = str(cache)
    seconds, _, err = timed([sys.executable, "-m", "brian2_delgrad", "train", model, "--epochs", str(epochs),
                             "--quiet", "--restart", "--out", str(folder)], env)
    return seconds, err


#: The published configuration the reference trains, and what this benchmark changes in it (written by the
#: reference's own Python, which has PyYAML).
REFERENCE_CONFIG = "experiment_configs/yin_yang_H30_WS.yaml"
WRITE_CONFIG = """import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["training_params"].update(epoch_number=int(sys.argv[3]), enforce_cpu=True)
yaml.safe_dump(config, open(sys.argv[2], "w"))
"""


def reference(checkout, python, epochs, folder):
    """The authors' implementation training for ``epochs`` epochs: (its own reported duration, seconds per epoch
    between its "Starting training" and "Ending training" lines)."""
    config, out = folder / f"reference-{epochs}.yaml", folder / "reference-run"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([str(python), "-c", WRITE_CONFIG, str(checkout / REFERENCE_CONFIG), str(config), str(epochs)],
                   check=True)
    env = dict(os.environ, MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([str(python), "experiment.py", "train", str(config), str(out)], cwd=checkout / "src",
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marks, lines = {}, []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(("Starting training", "Ending training")):
            marks[line.split()[0]] = time.perf_counter()
        found = re.match(r"Training \d+ epochs -> duration: ([0-9.eE+-]+) seconds", line)
        if found:
            marks["duration"] = float(found.group(1))
    if process.wait() != 0 or len(marks) != 3:
        raise SystemExit(f"the reference failed or printed no duration:\n{''.join(lines[-20:])}")
    return marks["duration"], (marks["Ending"] - marks["Starting"]) / epochs


def median(values):
    return statistics.median(values), ", ".join(f"{v:.2f}" for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yinyang_h30_ws", help="a shipped model's name or a model file")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", type=Path, help="a checkout of the authors' implementation (see above)")
    parser.add_argument("--reference-python", type=Path, default=Path(sys.executable),
                        help="the Python that runs it (with PyTorch)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        with tempfile.TemporaryDirectory() as folder:
            run(args, Path(folder))
    finally:
        if busy is not None:
            busy.kill()


def run(args, folder):
    print(f"{args.model}, {args.epochs} epochs, {os.cpu_count()} cores{', one kept busy' if args.busy else ''}; "
          f"medians of {args.repeats} [single runs]")
    imports = {name: [timed([sys.executable, "-c", f"import {module}"])[0] for _ in range(args.repeats)]
               for name, module in (("import brian2", "brian2"), ("import brian2_delgrad.cli", "brian2_delgrad.cli"))}
    one_epoch, cold = [], []
    train(args.model, 1, folder / "warm-up")                     # the kernels in the user's cache
    for repeat in range(args.repeats):
        one_epoch.append(train(args.model, 1, folder / "one")[0])
        seconds, err = train(args.model, 1, folder / "one", cache=folder / f"empty-cache-{repeat}")
        cold.append(seconds)
    print("start-up")
    for name, values in imports.items():
        print(f"  {name:40s} {median(values)[0]:7.2f} s  [{median(values)[1]}]")
    print(f"  {'train --epochs 1, kernels cached':40s} {median(one_epoch)[0]:7.2f} s  [{median(one_epoch)[1]}]")
    print(f"  {'train --epochs 1, empty kernel cache':40s} {median(cold)[0]:7.2f} s  [{median(cold)[1]}]")
    print("   " + " | ".join(line.removeprefix("brian2-delgrad: ") for line in err.splitlines() if "compil" in line))
    whole = {threads: [] for threads in ("default", 1, 2)}
    ours_10, theirs_10, theirs_epoch = [], [], []
    for _ in range(args.repeats):
        for threads in whole:
            whole[threads].append(train(args.model, args.epochs, folder / "whole",
                                        None if threads == "default" else threads)[0])
        if args.reference is not None:
            ours_10.append(train(args.model, 10, folder / "ten")[0])
            seconds, per_epoch = reference(args.reference.resolve(), args.reference_python, 10, folder)
            theirs_10.append(seconds)
            theirs_epoch.append(per_epoch)
    print(f"whole training, start to finish ({args.epochs} epochs), and seconds per epoch")
    one = median(one_epoch)[0]
    for threads, values in whole.items():
        per_epoch = (median(values)[0] - one) / (args.epochs - 1)
        print(f"  threads {threads!s:8s} {median(values)[0]:8.2f} s  [{median(values)[1]}]   {per_epoch:.4f} s/epoch")
    best = min(median(whole[1])[0], median(whole[2])[0])
    print(f"  default / better of one and two threads: {median(whole['default'])[0] / best:.2f}; "
          f"one / two threads: {median(whole[1])[0] / median(whole[2])[0]:.2f}")
    if args.reference is not None:
        ours_epoch = (median(whole["default"])[0] - one) / (args.epochs - 1)
        theirs = median(theirs_10)[0] * args.epochs / 10
        print(f"the authors' implementation, 10 epochs in turns with ours: its reported duration "
              f"{median(theirs_10)[0]:.2f} s [{median(theirs_10)[1]}], {median(theirs_epoch)[0]:.3f} s/epoch "
              f"[{median(theirs_epoch)[1]}]")
        print(f"  per epoch: {median(theirs_epoch)[0]:.3f} s against {ours_epoch:.4f} s: "
              f"{median(theirs_epoch)[0] / ours_epoch:.1f}x")
        print(f"  whole training of {args.epochs} epochs: {theirs:.1f} s (its 10 epochs scaled) against "
              f"{median(whole['default'])[0]:.2f} s start to finish: {theirs / median(whole['default'])[0]:.1f}x")
        print(f"  10 epochs start to finish: ours {median(ours_10)[0]:.2f} s [{median(ours_10)[1]}]")


if __name__ == "__main__":
    main()
