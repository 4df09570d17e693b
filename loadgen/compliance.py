"""`python -m loadgen.compliance`: MLPerf's compliance tests against a SUT.

The command lives in loadgen.cli.compliance; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("compliance")
