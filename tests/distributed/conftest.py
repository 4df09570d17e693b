"""One local Ray instance for every distributed test (starting Ray costs seconds)."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from types import ModuleType

import pytest


@pytest.fixture(scope="package")
def ray_instance() -> Iterator[ModuleType]:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI must install the ray extra for the distributed tests") from None
        pytest.skip("Ray is not installed: pip install '.[ray]'")
    import faulty_suts

    ray.cloudpickle.register_pickle_by_value(faulty_suts)  # the workers need not import the tests
    # Ray otherwise replaces builtins.print for the rest of the session, which other tests see
    saved_print, saved_env = builtins.print, os.environ.get("RAY_TQDM_PATCH_PRINT")
    os.environ["RAY_TQDM_PATCH_PRINT"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        builtins.print = saved_print
        if saved_env is None:
            os.environ.pop("RAY_TQDM_PATCH_PRINT", None)
        else:
            os.environ["RAY_TQDM_PATCH_PRINT"] = saved_env
