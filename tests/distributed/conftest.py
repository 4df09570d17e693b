"""One local Ray instance for every distributed test (starting Ray costs seconds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[ModuleType]:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI must install the ray extra for the distributed tests") from None
        pytest.skip("Ray is not installed: pip install '.[ray]'")
    import faulty_suts

    ray.cloudpickle.register_pickle_by_value(faulty_suts)  # the workers need not import the tests
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
