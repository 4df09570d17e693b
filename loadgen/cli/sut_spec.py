"""Turns a `--sut` spec into a SUT object: `module:attr`, `path/file.py:attr`, or `module`.

`attr` may name an object with the SUT protocol or a factory (a function or class) that
returns one; a module given alone means its `make_sut` factory. Errors say what is
missing, so a user's first try at wrapping a model tells them what to add. A bare model
object runs over TinyDigits, or over `--dataset FILE` (sut.datasets).

The file's folder (and, for a module spec, the current folder) goes on sys.path after
site-packages: the user's own modules import by name, but a folder there named like an
installed package (a clone of the course named `tinytorch`) does not shadow it; when such
a folder is all there is, the failed import says so in one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from loadgen.engine.query import IndexQSL, QuerySampleLibrary, SystemUnderTest
from loadgen.errors import SutLoadError
from sut.tinytorch import looks_like_model, wrap_model

DEFAULT_FACTORY = "make_sut"
SUT_METHODS = ("issue_query", "flush_queries")
QSL_ATTRIBUTES = ("name", "total_sample_count", "performance_sample_count", "load_samples", "unload_samples")


def _after_installed_packages(folder: Path) -> None:
    """Put a user's folder on sys.path after site-packages (once), so their own modules import by
    name but a folder there named like an installed package (a `tinytorch` clone) does not shadow it."""
    entry = str(folder.resolve())
    if entry not in sys.path:
        sys.path.append(entry)


def shadowing_package(name: str) -> str | None:
    """Where `name` resolves when that is a bare folder (no __init__.py: a namespace package, such as
    a clone of the course's repository named tinytorch) rather than the installed package; else None."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin not in (None, "namespace") or not spec.submodule_search_locations:
        return None
    return ", ".join(str(location) for location in spec.submodule_search_locations)


def _import_failure(where: str, exc: BaseException) -> SutLoadError:
    """A --sut module whose code fails as it is imported, in one line: where, what it raised, and
    why when TinyTorch is the cause."""
    if isinstance(exc, SyntaxError):
        at = f"{exc.filename}:{exc.lineno}" if exc.filename else f"line {exc.lineno}"
        return SutLoadError(f"--sut {where}: {type(exc).__name__} at {at}: {exc.msg}")
    if not isinstance(exc, ImportError):
        frames = traceback.extract_tb(exc.__traceback__)
        at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        return SutLoadError(f"--sut {where}: importing it raised {type(exc).__name__}{at}: {exc}")
    missing = exc.name or ""
    top = missing.split(".")[0]
    message = f"--sut {where}: importing it raised {type(exc).__name__}: {exc}"
    if top == "tinytorch":
        shadow = shadowing_package(top)
        if shadow is not None:
            message += (
                f"; the folder {shadow} is not the course's package but shadows it (a clone of the course?): "
                "install the course (pip install -e COURSE_CHECKOUT, then tito export --all) or rename that folder"
            )
        else:
            message += "; is the course installed? (pip install -e COURSE_CHECKOUT, then tito export --all)"
    return SutLoadError(message)


def _import_file(path: Path) -> ModuleType:
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise SutLoadError(f"--sut {path}: no such file")
    name = f"_loadgen_sut_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SutLoadError(f"--sut {path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _after_installed_packages(path.parent)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise _import_failure(str(path), exc) from exc
    return module


def _import(target: str) -> ModuleType:
    if target.endswith(".py") or "/" in target or "\\" in target:
        return _import_file(Path(target))
    if not target or not all(part.isidentifier() for part in target.split(".")):
        raise SutLoadError(
            f"--sut {target!r}: not a module name; give module:attr, module (with make_sut) or path/to/file.py:attr"
        )
    _after_installed_packages(Path.cwd())
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (target == exc.name or target.startswith(exc.name + ".")):
            raise SutLoadError(
                f"--sut {target}: module not found ({exc}); give module:attr or path/to/file.py:attr"
            ) from exc
        raise _import_failure(target, exc) from exc
    except (Exception, SystemExit) as exc:
        raise _import_failure(target, exc) from exc


def missing_sut_methods(obj: object) -> list[str]:
    """The SUT protocol's callables that `obj` lacks."""
    return [name for name in SUT_METHODS if not callable(getattr(obj, name, None))]


def load_object(spec: str) -> Any:
    """The object a spec names; importing runs the module's code, as `python file.py` would."""
    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    module = _import(target)
    attr = attr or DEFAULT_FACTORY
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise SutLoadError(
            f"--sut {spec}: {module.__name__} has no attribute {attr!r}"
            + ("; a module given alone must define make_sut(**kwargs)" if attr == DEFAULT_FACTORY else "")
        ) from None
    return obj


Adapter = Callable[[Any], "SystemUnderTest | None"]
"""Turns an object that is not a SUT (a bare model, say) into one, or returns None."""


def build_sut(spec: str, kwargs: dict[str, Any], adapt: Adapter | None = None) -> SystemUnderTest:
    """Load the spec's object; call it with kwargs when it is a class or a factory, not a SUT.

    `adapt` gets the first say on the object and on what a factory returns, so a bare model
    object (which is callable) is wrapped rather than called.
    """
    obj = load_object(spec)
    adapted = adapt(obj) if adapt else None
    if adapted is not None:
        if kwargs:
            raise SutLoadError(f"--sut {spec}: --sut-arg given, but {spec} is a model object, not a factory")
        return adapted
    if isinstance(obj, type) or (missing_sut_methods(obj) and callable(obj)):
        try:
            obj = obj(**kwargs)
        except TypeError as exc:
            raise SutLoadError(f"--sut {spec}: calling the factory failed: {exc}") from exc
        except (Exception, SystemExit) as exc:
            raise SutLoadError(f"--sut {spec}: the factory raised {type(exc).__name__}: {exc}") from exc
        adapted = adapt(obj) if adapt else None
        if adapted is not None:
            return adapted
    elif kwargs:
        raise SutLoadError(f"--sut {spec}: --sut-arg given, but {spec} is an object, not a factory")
    missing = missing_sut_methods(obj)
    if missing:
        raise SutLoadError(
            f"--sut {spec}: {type(obj).__name__} is not a SUT: it lacks {', '.join(missing)}; a SUT needs "
            "name, issue_query(samples) and flush_queries(), or give a factory that returns one"
        )
    if not hasattr(obj, "name"):
        raise SutLoadError(f"--sut {spec}: the SUT has no 'name' attribute")
    return obj


def model_adapter(dataset: Path | None = None, wrapped: list[object] | None = None) -> Adapter:
    """What `--sut` does with a bare model (forward / predict / __call__, no issue_query): run it over
    `--dataset FILE` when given, else over the TinyDigits test split. Each model wrapped is appended
    to `wrapped`, so the caller can tell a wrapped model from a SUT that brought its own data."""

    def adapt(obj: Any) -> SystemUnderTest | None:
        if not looks_like_model(obj):
            return None
        if wrapped is not None:
            wrapped.append(obj)
        return wrap_model(obj, dataset)

    return adapt


def build_model_or_sut(spec: str, kwargs: dict[str, Any], dataset: Path | None = None) -> SystemUnderTest:
    """`build_sut` with bare models wrapped; `--dataset` is refused for a SUT, which has its own data."""
    wrapped: list[object] = []
    sut = build_sut(spec, kwargs, adapt=model_adapter(dataset, wrapped))
    if dataset is not None and not wrapped:
        raise SutLoadError(
            f"--dataset {dataset}: {spec} is a SUT, not a bare model; a SUT brings its own data (its qsl)"
        )
    return sut


def qsl_for(sut: object, samples: int) -> QuerySampleLibrary:
    """The SUT's own QSL (a `qsl` attribute) when it has one, else an index-only QSL."""
    qsl = getattr(sut, "qsl", None)
    if qsl is None:
        return IndexQSL(samples)
    missing = [name for name in QSL_ATTRIBUTES if not hasattr(qsl, name)]
    if missing:
        raise SutLoadError(f"the SUT's qsl lacks {', '.join(missing)}")
    return qsl
