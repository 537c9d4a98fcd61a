"""The ``brian2-delgrad`` command line."""
import argparse
import sys

__all__ = ["main"]


def main(argv=None):
    """Entry point of ``brian2-delgrad``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="brian2-delgrad", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "gradcheck",
        help="compare the exact gradients with finite differences for every delay placement",
        description="For random networks of every delay placement, tau_m/tau_s in {1, 2, 1.5} and "
                    "one or two hidden layers, print the largest relative difference between the "
                    "exact backward pass and Ridders-extrapolated central finite differences.")
    check.add_argument("--batch", type=int, default=16, help="samples per network (default 16)")
    check.add_argument("--seed", type=int, default=0, help="seed of networks and inputs (default 0)")
    check.add_argument("--tolerance", type=float, default=1e-6,
                       help="largest acceptable relative difference (default 1e-6)")
    train = commands.add_parser(
        "train", help="train a network described in a model file on Yin-Yang",
        description="Train the network of a model file (models/*.toml) with its recipe; write the history "
                    "table, the final parameters and a figure of the training curves to --out, and print "
                    "the test accuracy. Re-running the same command continues from the checkpoint that is "
                    "written after every epoch.")
    train.add_argument("model", help="model file, e.g. models/yinyang_h30_ws.toml")
    train.add_argument("--epochs", type=int, help="number of epochs (default: the model file's)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling (default 0)")
    train.add_argument("--out", help="output folder (default results/<model>/seed<seed>)")
    train.add_argument("--restart", action="store_true", help="ignore a checkpoint left in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--substrate", choices=["exact", "numpy", "cython", "cpp_standalone"], default="exact",
                       help="forward pass: the exact event-based substrate (default) or Brian2 with this "
                            "code-generation target (gradients at the recorded spike times)")
    train.add_argument("--dt", type=float, default=10.0, help="Brian2 time step in us (default 10)")
    args = parser.parse_args(argv)
    if args.command == "gradcheck":
        if args.batch < 1:
            parser.error("--batch must be at least 1")
        return _gradcheck(args)
    if args.epochs is not None and args.epochs < 0:
        parser.error("--epochs must be >= 0")
    if not args.dt > 0:
        parser.error("--dt must be a positive number of microseconds")
    from .config import ConfigError

    try:
        return _train(args)
    except ConfigError as err:
        print(f"brian2-delgrad: error: {err}", file=sys.stderr)
        return 2


def _gradcheck(args):
    import pandas as pd

    from .gradcheck import gradcheck_sweep

    table = gradcheck_sweep(batch=args.batch, seed=args.seed, progress=True)
    summary = table.groupby(["placement", "ratio", "sizes"], sort=False).agg(
        compared=("compared", "sum"), excluded=("excluded", "sum"), nonzero=("nonzero", "sum"), below_floor=("below_floor", "sum"),
        max_rel_diff=("max_rel_diff", "max"), sum_rule=("sum_rule", "max")).reset_index()
    with pd.option_context("display.width", 120, "display.max_rows", None):
        print(summary.to_string(index=False, formatters={"max_rel_diff": "{:.2e}".format,
                                                          "sum_rule": "{:.1e}".format}))
    worst = summary.max_rel_diff.max()
    ok = worst <= args.tolerance
    print(f"\nlargest relative difference {worst:.2e} over {summary.compared.sum()} (sample, parameter) "
          f"pairs ({summary.below_floor.sum()} of them held to the absolute floor), "
          f"{summary.excluded.sum()} excluded as grazing or straddling an event: "
          f"{'OK' if ok else 'FAILED'} (tolerance {args.tolerance:g})")
    return 0 if ok else 1



def _train(args):
    import hashlib
    import json
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from .config import ConfigError
    from .losses import predict_labels
    from .modelfile import load_model_file
    from .plots import plot_training

    description = load_model_file(args.model)
    epochs = description.training["epochs"] if args.epochs is None else args.epochs
    out = Path(args.out or Path("results") / description.name / f"seed{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, run_file = out / "checkpoint.npz", out / "run.json"
    run = dict(model=str(args.model), sha256=hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
               seed=args.seed, substrate=args.substrate, dt_us=args.dt)
    resume = None
    if checkpoint.exists() and not args.restart:
        previous = json.loads(run_file.read_text()) if run_file.exists() else {}
        if {k: previous.get(k) for k in run if k != "model"} != {k: run[k] for k in run if k != "model"}:
            raise ConfigError(f"{out}: holds a checkpoint of another model file, seed or substrate; "
                              "use --restart or another --out")
        resume = checkpoint
    run_file.write_text(json.dumps(run, indent=1))
    net = description.network(seed=args.seed)
    substrate = None
    if args.substrate != "exact":
        from brian2 import us

        from .substrates import Brian2Substrate

        substrate = Brian2Substrate(dt=args.dt * us, target=args.substrate,
                                    batch_size=description.training["batch_size"])
    trainer = description.trainer(net, seed=args.seed, substrate=substrate, progress=not args.quiet)
    if resume is not None:
        print(f"resuming from {checkpoint}")
    history = trainer.fit(*description.data("train"), validation=description.data("validation"),
                          epochs=epochs, checkpoint=checkpoint, resume=resume)
    history.insert(0, "seed", args.seed)
    history.insert(0, "model", description.name)
    history.to_csv(out / "history.csv", index=False)
    net.save(out / "parameters.npz")
    plot_training(history, out / "training.png", title=f"{description.name}, seed {args.seed}")
    test_inputs, test_labels = description.data("test")
    accuracy = trainer.score(test_inputs, test_labels)
    last = net.copy()
    last.set_parameters(**trainer.last_parameters_)
    last_accuracy = float(np.mean(predict_labels(trainer.substrate.run(last, test_inputs)[-1]) == test_labels))
    summary = dict(model=description.name, seed=args.seed, substrate=args.substrate, epochs=trainer.epoch_,
                   n_parameters=net.n_parameters,
                   test_accuracy=accuracy, selected_epoch=trainer.best_epoch_ if trainer.keep_best else trainer.epoch_,
                   test_accuracy_last_epoch=last_accuracy,
                   seconds_per_epoch=float(pd.Series(
                       history.loc[history.split == "train", "wall_time"]).median()))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}/history.csv, parameters.npz, training.png, summary.json")
    print(f"test accuracy: {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
