"""Helpers shared by the tests."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
#: The authors' key list and the parity fixtures (``../shared/reference`` copied into the repository,
#: so that every clone proves parity).
REFERENCE = Path(__file__).resolve().parent / "data" / "reference"


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
