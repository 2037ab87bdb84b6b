from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
DATA = SHARED / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "cuda: needs a CUDA device")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def recipe_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The reference README's deterministic recipe weights, in the authors' key layout."""
    keys = json.loads((REFERENCE / "official_keys.json").read_text())[variant]
    out = {}
    for k, shape in keys.items():
        n = int(np.prod(shape))
        u = np.random.Generator(np.random.PCG64(zlib.crc32(k.encode()))).random(n)
        bound = 1 / np.sqrt(n / shape[0]) if len(shape) >= 2 else 0.1
        out[k] = torch.from_numpy(((2 * u - 1) * bound).astype(np.float32).reshape(shape))
    return out


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "official_keys.json").exists():
        pytest.skip("../shared/reference is absent")
    return REFERENCE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return DATA
