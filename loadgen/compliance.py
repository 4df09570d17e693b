"""`python -m loadgen.compliance`: MLPerf's compliance tests against a SUT (the command lives in loadgen.cli.compliance)."""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("compliance")
