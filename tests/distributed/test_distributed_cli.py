"""What --workers refuses, before anything starts (no Ray instance needed)."""

from __future__ import annotations

import sys

import pytest

from loadgen.cli.run import main as run_main


@pytest.mark.parametrize("scenario", ["single_stream", "multi_stream"])
def test_one_stream_scenarios_are_refused(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--scenario", scenario, "--workers", "2", "--sut", "sut.null"]) == 2
    assert "single stream by definition" in capsys.readouterr().err


def test_unset_rates_and_other_modes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--scenario", "server", "--workers", "2", "--sut", "sut.null"]) == 2
    assert "set server_target_qps" in capsys.readouterr().err
    assert run_main(["--scenario", "offline", "--workers", "2", "--mode", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert "mode AccuracyOnly is not distributed" in err or "is not distributed" in err
    assert run_main(["--scenario", "offline", "--workers", "0", "--set", "offline_expected_qps=10"]) == 2
    assert "--workers 0: allowed" in capsys.readouterr().err


def test_without_ray_workers_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code = run_main(["--scenario", "server", "--workers", "2", "--set", "server_target_qps=100"])
    assert code == 2
    assert "pip install 'tinyperf-loadgen[ray]'" in capsys.readouterr().err


def test_import_loadgen_never_imports_ray() -> None:
    import subprocess

    code = "import sys, loadgen, loadgen.cli.run, loadgen.distributed.driver; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_signal_while_the_results_are_written_waits_for_them() -> None:
    """After the run, SIGTERM is only noted (the folder is finished, then the command exits 143)."""
    import os
    import signal

    from loadgen.distributed.driver import Terminated, signals_deferred

    found = signal.getsignal(signal.SIGTERM)
    with signals_deferred() as late:
        os.kill(os.getpid(), signal.SIGTERM)  # would end the process, were it not deferred
        os.kill(os.getpid(), signal.SIGINT)  # and would raise KeyboardInterrupt here
        written = True
    assert written and late.received == signal.SIGTERM and late.kind() is Terminated  # SIGTERM decides
    assert signal.getsignal(signal.SIGTERM) is found
