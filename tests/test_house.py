"""The house's rules, checked as a user meets them: the import contracts, a light `import
loadgen`, the drop-in API without the command line, and the harness's own packages winning
over a user's `sut.py`, `reports.py` or `scenarios.py` in the working folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "mlperf" / "harness.py"
SHADOWS = ("sut", "reports", "scenarios")


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def shadowed_folder(tmp_path: Path) -> Path:
    """A working folder whose sut.py, reports.py and scenarios.py explode when imported."""
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user\\'s {name}.py was imported')\n")
    return tmp_path


def test_import_contracts_hold() -> None:
    if shutil.which("lint-imports") is None and os.environ.get("CI") != "true":
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    done = run("lint-imports", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_importing_loadgen_loads_nothing_heavy(tmp_path: Path) -> None:
    heavy = "('numpy', 'scipy', 'pydantic')"
    code = f"import json, loadgen, sys; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy})))"
    done = run(sys.executable, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_drop_in_api_imports_no_command_line_and_no_shipped_sut(shadowed_folder: Path) -> None:
    check = "import loadgen.mlperf, sys; assert not any(m.startswith(('loadgen.cli', 'sut')) for m in sys.modules)"
    done = run(sys.executable, "-c", check, cwd=shadowed_folder)
    assert done.returncode == 0, done.stdout + done.stderr


DROP_IN_SETUP = """
import json, sys
import loadgen.mlperf as lg
settings = lg.TestSettings()
settings.scenario = lg.TestScenario.Server
settings.server_target_qps = 250
try:
    settings.min_duration_ms = -1
except lg.SettingsError as exc:
    refused = str(exc)
heavy = ('numpy', 'scipy', 'pydantic', 'sut', 'reports', 'loadgen.cli', 'loadgen.benchmark', 'loadgen.results',
         'loadgen.settings')
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
from loadgen.benchmark.runner import Benchmark
assert lg.Benchmark is Benchmark, "the names the module imported before are still there, loaded on use"
print(json.dumps({"loaded": loaded, "refused": refused, "qps": settings.server_target_qps}))
"""


def test_the_drop_in_api_and_its_settings_load_no_numpy_scipy_pydantic_or_engine(tmp_path: Path) -> None:
    """A harness's imports and TestSettings assignments cost about what `import mlperf_loadgen`
    does (numpy alone takes longer than the 150 ms target here); what the test needs loads
    when it starts."""
    done = run(sys.executable, "-c", DROP_IN_SETUP, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["loaded"] == []
    assert "TestSettings.min_duration_ms = -1" in seen["refused"]
    assert seen["qps"] == 250.0


def test_early_stopping_loads_scipy_only_when_it_computes(tmp_path: Path) -> None:
    code = (
        "import sys; from loadgen.metrics import early_stopping as es; before = 'scipy' in sys.modules; "
        "print(before, es.min_queries(0.9), 'scipy.special' in sys.modules)"
    )
    done = run(sys.executable, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "64", "True"]


def test_a_drop_in_harness_runs_beside_a_users_sut_and_reports_module(shadowed_folder: Path) -> None:
    shutil.copy(HARNESS, shadowed_folder / "harness.py")
    out = shadowed_folder / "logs"
    done = run(
        sys.executable, "harness.py", "loadgen.mlperf", "SingleStream", "PerformanceOnly", str(out),
        "min_duration_ms=200", "min_query_count=64", "service_s=0.0002", cwd=shadowed_folder,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "mlperf_log_summary.txt").read_text()
    assert "Result is : " in summary and "Min queries satisfied : Yes" in summary, summary


@pytest.mark.parametrize("command", [["-m", "loadgen.run"], ["-m", "loadgen", "run"]])
def test_the_run_command_works_beside_a_users_sut_py(shadowed_folder: Path, command: list[str]) -> None:
    out = shadowed_folder / "results"
    done = run(
        sys.executable, *command, "--scenario", "single_stream", "--set", "min_duration_ms=200",
        "--set", "min_query_count=64", "--output", str(out), "--no-progress", cwd=shadowed_folder,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((out / "result.json").read_text())["valid"] is True


def test_loadgen_help_lists_every_command(tmp_path: Path) -> None:
    from loadgen.cli.main import COMMANDS

    done = run(sys.executable, "-m", "loadgen", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"  {name} " in done.stdout
        assert (REPO / "loadgen" / f"{name}.py").is_file(), f"python -m loadgen.{name} has no entry module"


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    done = run(sys.executable, "-m", "loadgen", "runn", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown command 'runn'" in done.stderr


def test_claiming_a_shadowed_package_skips_modules_of_extras_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip install .` then `python -m loadgen.run` from the clone: the clone's `sut/` shadows the
    installed one, and claiming it must not import sut.serve's aiohttp (the `serve` extra)."""
    from loadgen import own_packages

    package = tmp_path / "sut"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plain.py").write_text("VALUE = 1\n")
    (package / "served.py").write_text("import an_extra_that_is_not_installed\n")
    monkeypatch.setattr(own_packages, "ROOT", tmp_path)
    own_packages.claim("sut")  # no ModuleNotFoundError
    (package / "broken.py").write_text("import sut.missing_of_our_own\n")
    with pytest.raises(ModuleNotFoundError, match=r"sut\.missing_of_our_own"):
        own_packages.claim("sut")
