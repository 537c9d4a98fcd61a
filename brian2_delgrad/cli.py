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
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    return _gradcheck(args)


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


if __name__ == "__main__":
    sys.exit(main())
