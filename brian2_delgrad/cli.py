"""The brian2-delgrad command line: train spiking networks with learnable delays, run studies, draw them.

Every command checks its files (that they exist, are regular, readable TOML)
before it loads Brian2, SymPy and numba, so a mistake is reported at once;
errors are one line and exit 2, Ctrl-C exits 130 with a line on how to go on.
"""
import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

__all__ = ["main"]

#: The quick study, the default of ``brian2-delgrad study``.
QUICKSTART = "quickstart"

#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
#: Exit code when the reader of the output has gone (128 + SIGPIPE), as shells report it.
BROKEN_PIPE = 141


def _parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="brian2-delgrad",
        description="Train spiking networks with learnable transmission delays (DelGrad: exact gradients of "
                    "weights and delays), run studies that compare them, and draw the results. Model and study "
                    "files are given as paths or as the names of the files shipped with the package "
                    "(brian2-delgrad list).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
        "train", help="train a network described in a model file on its data set",
        description="Train the network of a model file with its recipe; write the history table, the final "
                    "parameters and a figure of the training curves to --out, and print the test accuracy. "
                    "Re-running the same command continues from the checkpoint that is written after every "
                    "epoch; a finished training is reported as such (--epochs trains on).")
    train.add_argument("model", help="model file: a path or a shipped name, e.g. yinyang_h30_ws")
    train.add_argument("--epochs", type=int, help="number of epochs (default: the model file's)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling (default 0)")
    train.add_argument("--out", help="output folder (default results/<model>/seed<seed>)")
    train.add_argument("--restart", action="store_true", help="ignore a checkpoint left in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--substrate", default="exact", metavar="NAME",
                       help="forward pass: 'exact', the exact event-based substrate (default), Brian2 with the "
                            "code-generation target 'numpy', 'cython' or 'cpp_standalone' (gradients at the "
                            "recorded spike times), or any registered substrate; always with the model file's "
                            "profile noise")
    train.add_argument("--dt", type=float, help="Brian2 time step in us (default 10)")
    train.add_argument("--timing", choices=["precise", "grid"],
                       help="Brian2 spike timing: exact arrivals and crossings between grid points (default) "
                            "or plain clock-driven, spikes on the dt grid")
    study = commands.add_parser(
        "study", help="run a study: a grid of trainings on a dask cluster, as tables and figures",
        description="Train every network of a study file's grid on dask.distributed, one worker process per "
                    "core, and write results.csv, summary.csv (and .parquet copies with pyarrow) and the "
                    "figures to --out. Every finished trial is saved at once: re-running the same command "
                    "continues where an interrupted run stopped.")
    study.add_argument("study", nargs="?", default=QUICKSTART,
                       help="study file: a path or a shipped name (default: the quick study, quickstart)")
    study.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core; "
                       "0: the trials run one after another in this process)")
    study.add_argument("--scheduler", help="address of a running dask scheduler to use instead, e.g. tcp://host:8786")
    study.add_argument("--out", help="output folder (default results/<study>)")
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    plot = commands.add_parser(
        "plot", help="draw a trained network: a spike raster of one sample, its learned delays, its decision map "
                     "or its first layer's weights as images",
        description="For a model file and a network saved from it (parameters.npz of train, "
                    "parameters/<trial>.best.npz of a study), write raster.png (one test sample through every "
                    "layer), delays.png (initial against trained delays, if it has delays) and, for data on a "
                    "plane (Yin-Yang, any data file of two features), decision_map.png; for images (digits, "
                    "Fashion-MNIST, MNIST), receptive_fields.png (the weights and delays into the hidden "
                    "neurons with the strongest outputs, as images).")
    plot.add_argument("--seed", type=int, default=0, help="seed of its initialisation, for the initial delays "
                                                          "(default 0)")
    plot.add_argument("--sample", type=int, default=0, help="test sample of the raster (default 0)")
    plot.add_argument("--out", help="output folder (default: the network's folder)")
    for command in (check, train, plot):
        command.add_argument("--threads", type=int, help="threads of the exact substrate's compiled kernels "
                                                         "(default: $BRIAN2_DELGRAD_THREADS, else every core)")
    study.add_argument("--threads", type=int, help="threads per worker (default: the cores shared out among "
                                                   "the local workers; a scheduler's workers: their own default)")
    export = commands.add_parser(
        "export", help="write a trained network as a NIR graph, for neuromorphic hardware and other simulators",
        description="For a model file and a network saved from it, write OUT (a .nir file, HDF5): NIR's "
                    "CubaLIF neurons, Linear weights and Delay nodes for every placement, read with nir.read. "
                    "Discrete-time simulators need --dt (snnTorch: --dt 100, weights only: none of snnTorch, "
                    "Norse and Rockpool imports Delay nodes yet). Needs the nir extra: "
                    "pip install 'brian2_delgrad[nir]'.")
    for command in (plot, export):                   # a trained network and the model file it came from
        command.add_argument("model", help="the model file the network was trained from (a path or a shipped name)")
        command.add_argument("parameters", help="the saved network (.npz)")
    export.add_argument("out", metavar="OUT", help="the file to write, e.g. net.nir")
    export.add_argument("--format", choices=["nir"], default="nir", help="the format (default nir)")
    export.add_argument("--dt", type=float, help="write for a discrete-time simulator that sends a spike as a 1 "
                        "for one step of DT microseconds (snnTorch: 100); default: spikes as unit impulses, "
                        "NIR's equations read literally")
    report = commands.add_parser(
        "report", help="redraw a study's figures from its tables",
        description="Read DIR/results.csv of a study and (re)write DIR/summary.csv and every figure the "
                    "results support, each PNG with the CSV table behind it.")
    report.add_argument("folder", metavar="DIR", help="a study's output folder")
    commands.add_parser(
        "list", help="list the model and study files shipped with the package",
        description="Print the name and description of every model and study file that ships with the "
                    "package; each name works wherever a model or study file is asked for.")
    copy = commands.add_parser(
        "copy", help="copy a shipped model or study file into a folder, to edit it",
        description="Copy a shipped model or study file (see list) to DIR/NAME.toml; the copy is then yours "
                    "to edit and to give as a path.")
    copy.add_argument("name", help="a shipped name, e.g. yinyang_h30_ws or quickstart")
    copy.add_argument("--to", default=".", metavar="DIR", help="destination folder (default: the working folder)")
    copy.add_argument("--force", action="store_true", help="replace a file of the same name there")
    return parser


def main(argv=None):
    """Entry point of ``brian2-delgrad``; returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:                          # the reader went away (`brian2-delgrad list | head`): stop
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())    # quietly, nothing more to flush
        return BROKEN_PIPE


def _main(argv):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "copy":
        return _copy(args)
    from .files.toml import ConfigError, check_file, find_file, read_toml

    try:                                               # the files, before Brian2, SymPy and numba are loaded
        if args.command in ("train", "plot", "export"):
            args.model = find_file(args.model, "models")
            args.model_data = read_toml(args.model).data
        elif args.command == "study":
            args.study = find_file(args.study, "studies")
            read_toml(args.study)
        if args.command in ("plot", "export"):
            check_file(args.parameters)
    except ConfigError as err:
        return _error(err)
    try:
        with _ctrl_c():
            return _command(parser, args)
    except KeyboardInterrupt:                          # before training started (train and study say more)
        return _stopped("stopped")
    except Exception as err:                           # ours to report: one line, the details in a file
        return _unexpected(err)


@contextlib.contextmanager
def _ctrl_c():
    """Ctrl-C as a KeyboardInterrupt wherever it lands: one that lands while a compiled (numba) kernel returns reaches
    Python as a ``SystemError`` ('returned a result with an exception set') caused by the KeyboardInterrupt."""
    try:
        yield
    except SystemError as err:
        if isinstance(err.__cause__, KeyboardInterrupt):
            raise KeyboardInterrupt from err
        raise


def _unexpected(err):
    """An error nothing else caught: one line with its cause and where the traceback went; exit 1."""
    import errno
    import tempfile
    import traceback

    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        cause = f"disk full: no space left to write {err.filename or 'a file'}"
    else:
        cause = f"{type(err).__name__}: {err}".splitlines()[0]
    try:
        handle, details = tempfile.mkstemp(prefix="brian2-delgrad-error-", suffix=".txt")
        with open(handle, "w") as file:
            file.write("".join(traceback.format_exception(err)))
        where = f"details in {details}"
    except OSError:
        where = "no room to write the details"
    print(f"brian2-delgrad: error: {cause} ({where})", file=sys.stderr)
    return 1


def _stopped(what, how=None):
    """Ctrl-C: one line (what was done, how to go on), exit 130."""
    print(f"\nbrian2-delgrad: {what}; {how or 'run the same command to continue'}", file=sys.stderr)
    return INTERRUPTED


def _error(err):
    print(f"brian2-delgrad: error: {err}", file=sys.stderr)
    return 2


def _list():
    from .files.shipped import KINDS, describe, shipped_folder, shipped_names

    for kind, command in zip(KINDS, ("train", "study")):
        print(f"{kind} (brian2-delgrad {command} NAME):")
        names = shipped_names(kind)
        width = max(map(len, names))
        for name in names:
            print(f"  {name:<{width}}  {describe(shipped_folder(kind) / f'{name}.toml')}")
    print("copy one to edit it: brian2-delgrad copy NAME")
    return 0


def _copy(args):
    from .files.shipped import ShippedError, copy_shipped

    try:
        target = copy_shipped(args.name, args.to, overwrite=args.force)
    except (ShippedError, OSError) as err:
        return _error(err)
    print(f"wrote {target}")
    return 0


def _command(parser, args):
    """Run a parsed command whose files are checked; one-line errors (exit 2) for what the user can mend."""
    if args.command == "train":
        from .utils.memory import MemoryLimitError

        try:
            _refuse_what_cannot_fit(args.model_data, Path(args.model).stem)
        except MemoryLimitError as err:
            return _error(err)
    import brian2  # noqa: F401  (every command below loads it; its SIGINT handler would only stop a Brian2 run)

    signal.signal(signal.SIGINT, signal.default_int_handler)    # Ctrl-C stops the command: KeyboardInterrupt
    from .utils.threads import get_num_threads, set_num_threads

    try:
        if args.command == "study" and args.scheduler is not None:
            pass                                       # --threads is for the scheduler's workers
        elif getattr(args, "threads", None) is not None:
            set_num_threads(args.threads)
        else:
            get_num_threads()                          # a bad BRIAN2_DELGRAD_THREADS: one line now, not mid-run
    except ValueError as err:
        parser.error(str(err) if str(err).startswith("BRIAN2") else f"--{err}")
    if args.command == "gradcheck":
        if args.batch < 1:
            parser.error("--batch must be at least 1")
        return _gradcheck(args)
    if args.command == "report":
        return _report(Path(args.folder))
    if args.command in ("plot", "export"):
        from .files.toml import ConfigError

        if args.command == "export" and args.dt is not None and not args.dt > 0:
            parser.error("--dt must be a positive number of microseconds")
        try:
            return _plot(args) if args.command == "plot" else _export(args)
        except (ConfigError, ValueError, ImportError) as err:
            return _error(err)
    if args.command == "study":
        if args.workers is not None and args.workers < 0:
            parser.error("--workers must be at least 0 (0: in this process)")
        if args.workers is not None and args.scheduler is not None:
            parser.error("--workers sets up a local cluster; with --scheduler the cluster has its own workers")
    else:
        from .training.trainer import EPOCHS

        if args.epochs is not None and EPOCHS.inspect(args.epochs)[0] is not None:
            parser.error(f"--epochs {EPOCHS.inspect(args.epochs)[0]}")
        if args.dt is not None and not args.dt > 0:
            parser.error("--dt must be a positive number of microseconds")
        from .substrates import SUBSTRATES

        if args.substrate not in SUBSTRATES:
            parser.error(f"--substrate must be one of {', '.join(SUBSTRATES)}, got {args.substrate!r}")
        for option in ("dt", "timing"):
            if getattr(args, option) is not None and option not in SUBSTRATES[args.substrate].options:
                parser.error(f"--{option}: the substrate {args.substrate!r} has no {option} option")
    from .files.toml import ConfigError
    from .training.checkpoints import CheckpointError
    from .utils.memory import MemoryLimitError
    from .utils.storage import FolderInUse

    try:
        return _study(args) if args.command == "study" else _train(args)
    except CheckpointError as err:
        return _error(f"{err}; --restart starts again (or give another --out)")
    except (ConfigError, MemoryLimitError, FolderInUse) as err:
        return _error(err)


def _refuse_what_cannot_fit(top, name):
    """Refuse a model file whose training cannot fit in memory before Brian2, SymPy and numba are loaded.

    ``top`` is the file's parsed TOML (a dict), ``name`` its stem. Reads only ``network.sizes`` and
    ``training.batch_size`` (without one, a batch of one sample: a lower bound); anything else, or a malformed
    value, is left to the model-file reader; the :class:`~brian2_delgrad.Trainer` checks the memory again with
    its batch size, its substrate's noise and the data's size.
    """
    from .utils.memory import check_training

    try:
        sizes, batch_size = top["network"]["sizes"], top.get("training", {}).get("batch_size", 1)
    except (KeyError, TypeError, AttributeError):
        return
    if (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n > 0 for n in sizes)
            and type(batch_size) is int and batch_size > 0):
        check_training(sizes, batch_size, name=name)


def _gradcheck(args):
    import pandas as pd

    from .exact.gradcheck import gradcheck_sweep

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



def _study(args):
    from .experiments.study import StudyError, run_study
    from .files.studyfile import load_study

    study = load_study(args.study)
    out = Path(args.out or Path("results") / study.name)
    print(f"{study.name}: {len(study.trials)} trials -> {out}")
    try:
        with _ctrl_c():
            run_study(study, out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet,
                      threads=args.threads)
    except KeyboardInterrupt:
        finished = {path.stem for path in (out / "trials").glob("*.csv")} & {t.id for t in study.trials}
        return _stopped(f"stopped after {len(finished)} of {len(study.trials)} trials (each finished trial is saved)")
    except StudyError as err:
        print(f"brian2-delgrad: error: {err}", file=sys.stderr)
        _report(out)
        return 1
    return _report(out)


def _trained_network(args, seed=0):
    """The model file's description (its hidden sizes those of the network), the saved network and the network
    the model file initialises with ``seed``; ``ValueError`` if the network is not one of the model file's."""
    import dataclasses

    from .core.network import DelayNetwork
    from .files.modelfile import load_model_file

    description = load_model_file(args.model)
    net = DelayNetwork.load(args.parameters)
    if len(net.sizes) == len(description.sizes):    # a study's hidden size may differ from the file's
        description = dataclasses.replace(description, sizes=(description.sizes[0], *net.sizes[1:-1],
                                                              description.sizes[-1]))
    initial = description.network(seed=seed)
    if net.sizes != initial.sizes or net.placements != initial.placements:
        raise ValueError(f"{args.parameters}: a {list(net.sizes)} network with delays "
                         f"{[list(p) for p in net.placements]}, not one of {args.model}")
    return description, net, initial


def _export(args):
    from .brian2_io.nir_graphs import nir_package, to_nir

    nir = nir_package()                                 # missing: one line on how to get it, before any reading
    _, net, _ = _trained_network(args)
    graph = to_nir(net, dt=None if args.dt is None else args.dt / 1e6)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(out, graph)
    print(f"wrote {out}: {len(graph.nodes)} NIR nodes, {net.n_parameters} parameters, spikes "
          f"{graph.metadata['spikes']}" + ("" if args.dt is None else f" of {args.dt:g} us"))
    return 0


def _plot(args):
    from .experiments.network_plots import plot_decision_map, plot_delays, plot_raster, plot_receptive_fields

    description, net, initial = _trained_network(args, args.seed)
    out = Path(args.out) if args.out else Path(args.parameters).parent
    out.mkdir(parents=True, exist_ok=True)
    inputs, labels = description.data("test")
    if not 0 <= args.sample < len(labels):
        raise ValueError(f"--sample must be in [0, {len(labels) - 1}], got {args.sample}")
    dataset = description.dataset_object()
    written = [out / "raster.png"]
    plot_raster(net, inputs[args.sample], int(labels[args.sample]), written[0], dataset.class_names)
    if plot_delays(initial, net, out / "delays.png"):
        written.append(out / "delays.png")
    if dataset.image_shape is not None and len(net.sizes) > 2:   # pixels: what the first layer looks at
        plot_receptive_fields(net, dataset.image_shape, out / "receptive_fields.png")
        written.append(out / "receptive_fields.png")
    if dataset.from_plane is not None:               # data on a plane: a decision map over it
        features, labels = dataset.load("test")
        plot_decision_map(net, lambda points: description.encode(dataset.from_plane(points)), features[:, :2],
                          labels, out / "decision_map.png")
        written.append(out / "decision_map.png")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _report(folder):
    import pandas as pd

    from .experiments.plots import plot_study
    from .experiments.study import stability_table, summarize, write_table
    from .experiments.tables import STABILITY_WINDOW
    from .substrates.noise import TRAIN_NOISE

    path = folder / "results.csv"
    if not path.exists():
        print(f"brian2-delgrad: error: {path}: no such file (no finished trial in {folder} yet)", file=sys.stderr)
        return 2
    results = pd.read_csv(path)
    summary = summarize(results)
    write_table(summary, folder / "summary")
    stability = stability_table(results)
    write_table(stability, folder / "stability")
    figures = plot_study(results, folder)
    print(f"wrote {folder}/summary.csv, stability.csv" + "".join(f", {p.name}" for p in figures)
          + " (from results.csv)")
    shown = summary[summary.noise == "none"] if not summary.empty else summary
    trained_under = [f"train_{kind}" for kind in TRAIN_NOISE                 # only the noises trained under
                     if f"train_{kind}" in shown.columns and (shown[f"train_{kind}"] > 0).any()]
    columns = [c for c in ("model", "placement", "profile", "sizes", "n_parameters", *trained_under,
                           "selection", "median", "q25", "q75", "count") if c in shown.columns]
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print("test accuracy (noise-free evaluation):")
        print(shown[columns].to_string(index=False, float_format="{:.3f}".format))
        if not stability.empty:
            keys = [c for c in ("model", "placement", "profile", "sizes", *trained_under) if c in stability.columns]
            calm = stability.groupby(keys, dropna=False, sort=True)[
                ["test_accuracy_last", "test_accuracy_best", "validation_std", "validation_range"]].median()
            print("median over seeds: test accuracy at the last and at the best validation epoch; standard "
                  f"deviation and range of validation accuracy over the last {STABILITY_WINDOW} epochs:")
            print(calm.reset_index().to_string(index=False, float_format="{:.3f}".format))
    return 0


#: What the keys of a training's run.json are, for the message when a checkpoint is of another training.
_RUN_KEYS = dict(seed="seed", substrate="substrate", dt_us="dt (us)", timing="timing")


def _train(args):
    from .files.modelfile import load_model_file
    from .utils.storage import only_writer

    description = load_model_file(args.model)
    out = Path(args.out or Path("results") / description.name / f"seed{args.seed}")
    with only_writer(out, f"brian2-delgrad train {description.name}, seed {args.seed}"):
        return _train_into(args, description, out)


def _train_into(args, description, out):
    """``train`` once the output folder is ours: one trial of the model file (the one a study would run), then its
    files."""
    import dataclasses
    import hashlib
    import json

    from brian2 import us

    from .experiments.plots import plot_training
    from .experiments.tables import reported_selection, stability
    from .experiments.trial import run_trial
    from .files.studyfile import make_trial
    from .files.toml import ConfigError
    from .training.checkpoints import history_log, load_checkpoint
    from .utils.storage import write_csv, write_json

    epochs = description.training["epochs"] if args.epochs is None else args.epochs
    checkpoint, run_file = out / "checkpoint.npz", out / "run.json"
    if args.restart:                                 # the old training goes, so that nothing mixes with the new
        for stale in (checkpoint, history_log(checkpoint), out / "summary.json"):
            stale.unlink(missing_ok=True)
    # the model file's substrate, with its profile's noise: the exact one, Brian2 or any registered one
    options = {k: v for k, v in dict(target=args.substrate, dt=None if args.dt is None else args.dt * us,
                                     timing=args.timing).items() if v is not None}
    substrate = description.substrate(seed=args.seed, **options)
    run = dict(model=str(args.model), sha256=hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
               seed=args.seed, substrate=args.substrate, **substrate.recorded_settings())
    if checkpoint.exists() and not args.restart:
        previous = json.loads(run_file.read_text()) if run_file.exists() else {}
        differ = [f"{_RUN_KEYS.get(k, k)} {previous.get(k)!r}, not {run[k]!r}" if k != "sha256" else
                  f"another version of {Path(args.model).name}" for k in run
                  if k != "model" and previous.get(k) != run[k]]
        if differ:
            raise ConfigError(f"{out}: holds a checkpoint of another training ({'; '.join(differ)}); use --restart "
                              "or another --out")
        summary_file = out / "summary.json"
        done = json.loads(summary_file.read_text()).get("epochs", -1) if summary_file.exists() else -1
        if done >= epochs:
            print(f"{out}: already trained for {done} epochs (test accuracy in summary.json); --epochs N trains on "
                  "to N epochs, --restart starts again")
            return 0
        print(f"resuming from {checkpoint}")
    write_json(run_file, run)
    try:
        with _ctrl_c():
            trial = run_trial(make_trial(description, args.seed, epochs), checkpoint, options,
                              progress=not args.quiet)
    except KeyboardInterrupt:                          # what is saved: the epoch of the last checkpoint written
        return _stopped(f"stopped after epoch {load_checkpoint(checkpoint).epoch} (saved in {checkpoint})"
                        if checkpoint.exists() else "stopped before the first epoch ended",
                        "run the same command without --restart to continue" if args.restart else None)
    trainer, history = trial.trainer, trial.history
    history.insert(0, "seed", args.seed)
    history.insert(0, "model", description.name)
    write_csv(history, out / "history.csv")
    trainer.net.save(out / "parameters.npz")
    plot_training(history, out / "training.png", title=f"{description.name}, seed {args.seed}",
                  n_classes=trainer.net.sizes[-1])
    tests = trial.table[(trial.table.split == "test") & (trial.table.noise == "none")].set_index("selection")
    selection = reported_selection(trainer.keep_best)
    accuracy = float(tests.accuracy[selection])
    summary = dict(model=description.name, seed=args.seed, substrate=args.substrate,
                   noise=dataclasses.asdict(substrate.noise),
                   **substrate.recorded_settings(), epochs=trainer.epoch_,
                   n_parameters=trainer.net.n_parameters, test_accuracy=accuracy, selection=selection,
                   selected_epoch=int(tests.epoch[selection]),
                   last_epoch=int(tests.epoch["last"]), test_accuracy_last=float(tests.accuracy["last"]),
                   best_epoch=int(tests.epoch["best"]), test_accuracy_best=float(tests.accuracy["best"]),
                   **stability(history),
                   seconds_per_epoch=float(history.loc[history.split == "train", "wall_time"].median()))
    write_json(out / "summary.json", summary)
    print(f"wrote {out}/history.csv, parameters.npz, training.png, summary.json")
    print(f"test accuracy: {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
