"""Numerical parity with the authors' released network (float64, recipe weights)."""

import numpy as np
import pytest
import torch
from helpers import recipe_state_dict

import rdafnet

TOL = 1e-6  # the reference README: a faithful model agrees to ~1e-10, > 1e-6 is an architecture bug


@pytest.mark.parametrize(
    "variant,outputs", [("single-stage", ["output"]), ("multi-stage", ["output_1", "output_2", "output_3"])]
)
@pytest.mark.parametrize("prefix,wrap", [("", True), ("module.", False)])
def test_parity_through_authors_checkpoint(reference_dir, tmp_path, variant, outputs, prefix, wrap):
    sd = recipe_state_dict(variant)
    fixture = np.load(reference_dir / f"parity_{variant.replace('-', '_')}.npz")
    # the recipe tensors themselves match the fixture's checksums
    sums = dict(zip(fixture["weight_sums_keys"].tolist(), fixture["weight_sums"].tolist(), strict=True))
    for k, v in sd.items():
        assert abs(v.double().sum().item() - sums[k]) < 1e-9 * max(1.0, abs(sums[k])), k
    ckpt = {prefix + k: v for k, v in sd.items()}
    path = tmp_path / "GoPro.pth"
    torch.save({"epoch": 3000, "state_dict": ckpt} if wrap else ckpt, path)

    model = rdafnet.load_official(path).double().eval()
    assert model.variant == variant
    x = torch.from_numpy(fixture["input"]).double()
    with torch.no_grad():
        stages = model((x + 1) / 2, return_stages=True)
    assert len(stages) == len(outputs)
    for out, name in zip(stages, outputs, strict=True):
        err = np.abs((out * 2 - 1).numpy() - fixture[name]).max()
        assert err <= TOL, f"{variant} {name}: max abs error {err:.3g}"


def test_mismatched_checkpoint_names_keys(reference_dir):
    sd = rdafnet.convert_official(recipe_state_dict("single-stage"))[2]
    sd.pop("body.blocks.3.convs.0.weight")
    sd["body.extra.weight"] = torch.zeros(1)
    model = rdafnet.build("single-stage")
    from rdafnet.weights.convert import load_strict

    with pytest.raises(
        ValueError, match=r"missing keys: body\.blocks\.3\.convs\.0\.weight.*unexpected keys: body\.extra"
    ):
        load_strict(model, sd, source="test")


def test_repository_fixtures_are_the_reference_files():
    from helpers import REFERENCE, SHARED

    shared = SHARED / "reference"
    if not shared.is_dir():
        pytest.skip("../shared/reference is absent; the copies in tests/data/reference are used")
    for name in ("official_keys.json", "parity_single_stage.npz", "parity_multi_stage.npz"):
        assert (REFERENCE / name).read_bytes() == (shared / name).read_bytes(), name
