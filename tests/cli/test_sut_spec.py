"""--sut specs: module:attr, file.py:attr, a module alone, factories, classes, and what fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.cli.sut_spec import build_sut, qsl_for
from loadgen.engine.query import IndexQSL
from loadgen.errors import SutLoadError

SUT_FILE = '''
class Plain:
    name = "Plain"
    def __init__(self, speed=1):
        self.speed = speed
    def issue_query(self, samples):
        samples.complete()
    def flush_queries(self):
        pass

ready = Plain(speed=3)

def make_sut(speed=2):
    return Plain(speed)

def broken_factory():
    raise RuntimeError("no GPU here")

class NoFlush:
    name = "NoFlush"
    def issue_query(self, samples):
        pass
'''


@pytest.fixture
def sut_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_sut.py"
    path.write_text(SUT_FILE)
    return path


def test_file_spec_forms(sut_file: Path) -> None:
    assert build_sut(f"{sut_file}:ready", {}).speed == 3
    assert build_sut(f"{sut_file}:Plain", {"speed": 5}).speed == 5
    assert build_sut(f"{sut_file}:make_sut", {}).speed == 2
    assert build_sut(str(sut_file), {"speed": 7}).speed == 7


def test_module_alone_means_make_sut() -> None:
    assert build_sut("sut.null", {}).name == "NullSUT"
    assert build_sut("sut.fixed_time", {"service_us": 5, "workers": 2}).name == "FixedTimeSUT(5us x 2)"


@pytest.mark.parametrize(
    ("spec", "kwargs", "words"),
    [
        ("no_such_module_abc", {}, "module not found"),
        ("sut.null:nothing", {}, "has no attribute 'nothing'"),
        ("loadgen.engine.query", {}, "must define make_sut"),
        ("{file}:NoFlush", {}, "lacks flush_queries"),
        ("{file}:broken_factory", {}, "the factory raised RuntimeError: no GPU here"),
        ("{file}:make_sut", {"colour": "red"}, "calling the factory failed"),
        ("{file}:ready", {"speed": 1}, "is an object, not a factory"),
        ("missing_dir/nothing.py:x", {}, "no such file"),
    ],
)
def test_errors_say_what_is_missing(spec: str, kwargs: dict, words: str, sut_file: Path) -> None:
    with pytest.raises(SutLoadError, match=words.replace("(", r"\(")):
        build_sut(spec.format(file=sut_file), kwargs)


def test_qsl_is_the_suts_own_or_an_index_qsl() -> None:
    sut = build_sut("sut.digit_mlp", {})
    assert qsl_for(sut, 10) is sut.qsl
    plain = qsl_for(build_sut("sut.null", {}), 10)
    assert isinstance(plain, IndexQSL) and plain.total_sample_count == 10


def test_a_qsl_missing_parts_is_rejected() -> None:
    class WithBadQsl:
        name = "x"
        qsl = object()

    with pytest.raises(SutLoadError, match="lacks name, total_sample_count"):
        qsl_for(WithBadQsl(), 10)


def test_an_adapter_wraps_a_bare_model_instead_of_calling_it(sut_file: Path) -> None:
    sut_file.write_text(SUT_FILE + """
class Model:
    def forward(self, x):
        raise AssertionError("must not be called while loading")

model = Model()

def make_model():
    return Model()
""")
    wrapped: list[object] = []

    def adapt(obj: object) -> object | None:
        if type(obj).__name__ != "Model":
            return None
        wrapped.append(obj)
        return build_sut("sut.null", {})

    assert build_sut(f"{sut_file}:model", {}, adapt=adapt).name == "NullSUT"
    assert build_sut(f"{sut_file}:make_model", {}, adapt=adapt).name == "NullSUT"
    assert len(wrapped) == 2
    with pytest.raises(SutLoadError, match="is a model object, not a factory"):
        build_sut(f"{sut_file}:model", {"x": 1}, adapt=adapt)


def test_dataset_is_refused_for_a_sut_that_brings_its_own_data(tmp_path: Path) -> None:
    from loadgen.cli.sut_spec import build_model_or_sut

    with pytest.raises(SutLoadError, match=r"--dataset .*x\.npz: sut\.digit_mlp is a SUT, not a bare model"):
        build_model_or_sut("sut.digit_mlp", {}, tmp_path / "x.npz")


def test_the_files_folder_goes_after_site_packages(tmp_path: Path) -> None:
    """A module beside the user's file named like an installed one does not shadow it."""
    import sys

    from loadgen.cli.sut_spec import load_object

    installed, student = tmp_path / "site-packages", tmp_path / "student"
    installed.mkdir()
    student.mkdir()
    (installed / "shadowed_pkg_a1.py").write_text("WHO = 'installed'\n")
    (student / "shadowed_pkg_a1.py").write_text("WHO = 'the student folder'\n")
    (student / "mine.py").write_text("import shadowed_pkg_a1\nmodel = shadowed_pkg_a1.WHO\n")
    sys.path.append(str(installed))
    try:
        assert load_object(f"{student / 'mine.py'}:model") == "installed"
        assert sys.path.index(str(student.resolve())) > sys.path.index(str(installed))
    finally:
        sys.path.remove(str(installed))
        sys.path.remove(str(student.resolve()))
        sys.modules.pop("shadowed_pkg_a1", None)
