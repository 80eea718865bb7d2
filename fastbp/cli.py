"""The ``fastbp`` command (also ``python -m fastbp``)."""

import argparse

from . import demo
from ._backend import BACKENDS


def build_parser():
    parser = argparse.ArgumentParser(prog="fastbp", description=(
        "Fully connected networks trained by backpropagation and per-example SGD."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("demo", help="train on two interleaved spirals and report",
                              description=demo.run.__doc__.split("\n")[0])
    run.add_argument("--points", type=int, default=2000, help="number of points (2000)")
    run.add_argument("--epochs", type=int, default=100, help="training epochs (100)")
    run.add_argument("--lr", type=float, default=0.01, help="learning rate (0.01)")
    run.add_argument("--seed", type=int, default=0, help="seed of data, weights and order (0)")
    run.add_argument("--backend", choices=BACKENDS, default=None,
                     help="backend (default: fastbp.BACKEND)")
    return parser


def main(argv=None):
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        if args.points < 2 or args.epochs < 1 or not args.lr > 0:
            build_parser().error("demo needs --points >= 2, --epochs >= 1 and --lr > 0")
        demo.run(points=args.points, epochs=args.epochs, lr=args.lr, seed=args.seed,
                 backend=args.backend)
    return 0
