from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch
from helpers import DATA, REFERENCE

# The tests own the environment they depend on, whatever the user's shell sets (subprocesses inherit it, so
# every process of a test session agrees):
# - caches: precision="auto" caches its measurement, the authors' releases and hub files are cached: a
#   temporary folder each, never the user's;
# - network: no test reaches beyond this machine, so the hub is offline for every test; the tests of
#   downloads say so themselves (HF_HUB_OFFLINE=0) and talk to loopback servers, which no proxy may take;
# - the mirror of the authors' files is the one a test names, never the user's.
os.environ["RDAFNET_CACHE"] = tempfile.mkdtemp(prefix="rdafnet-cache-")
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="rdafnet-hf-home-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("RDAFNET_MIRROR", None)
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HUGGINGFACE_HUB_CACHE", None)
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var), "127.0.0.1", "localhost", "::1"]))


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
