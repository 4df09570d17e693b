"""`python -m loadgen.submit`: benchmark a baseline and an optimized model into a capstone submission.json (the command lives in loadgen.cli.submit)."""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("submit")
