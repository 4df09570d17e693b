"""`python -m loadgen.run`: benchmark a SUT under one scenario and write the results folder (the command lives in loadgen.cli.run)."""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("run")
