"""`algobench score` and `algobench report` in the test process, through a parser built the way
algobench/cli.py builds it."""

import argparse

from scoring.cli import register


def run(argv: list[str]) -> int:
    """The exit code of `algobench ARGV...` for the scoring subcommands."""
    parser = argparse.ArgumentParser(prog="algobench")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)
