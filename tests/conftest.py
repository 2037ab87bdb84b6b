from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import DATA, REFERENCE


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
