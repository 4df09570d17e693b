"""`python -m loadgen.submit`: benchmark a baseline and an optimized model into submission.json.

The command lives in loadgen.cli.submit; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("submit")
