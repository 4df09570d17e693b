"""`python -m loadgen.run`: benchmark a SUT under one scenario and write the results folder.

The command lives in loadgen.cli.run; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("run")
