from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch
from helpers import DATA, REFERENCE

# precision="auto" caches its measurement: keep the tests' cache out of the user's home (subprocesses
# inherit it, so every process of a test session agrees)
os.environ.setdefault("RDAFNET_CACHE", tempfile.mkdtemp(prefix="rdafnet-cache-"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The authors' key list and parity fixtures, kept in the repository (copies of ../shared/reference)."""
    return REFERENCE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return DATA
