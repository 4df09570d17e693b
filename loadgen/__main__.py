"""`python -m loadgen COMMAND ...`: the same as the `loadgen` console script."""

from loadgen.cli.entry import run_module

run_module("main")
