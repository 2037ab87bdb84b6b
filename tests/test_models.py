import pytest
import torch

import rdafnet


def _meta(variant: str) -> torch.nn.Module:
    """The network without allocating or initialising its weights (counts need shapes only)."""
    with torch.device("meta"):
        return rdafnet.build(variant)


def test_parameter_counts_exact():
    assert rdafnet.profile(_meta("single-stage")).params == 14_195_072
    assert rdafnet.profile(_meta("multi-stage")).params == 28_967_302


@pytest.mark.parametrize("variant,paper_g", [("single-stage", 241.52), ("multi-stage", 502.62)])
def test_macs_match_paper(variant, paper_g):
    macs = rdafnet.profile(_meta(variant), (256, 256)).macs / 1e9
    assert abs(macs - paper_g) / paper_g < 0.015, macs


@pytest.mark.parametrize(
    "variant,millions",
    [
        ("single-stage-no-attention", "9.93"),
        ("single-stage-am-only", "10.99"),
        ("single-stage", "14.20"),
        ("single-stage-no-residual", "14.20"),
    ],
)
def test_ablation_parameter_counts_table2(variant, millions):
    assert f"{rdafnet.profile(_meta(variant)).params / 1e6:.2f}" == millions


def test_block_count_ablations():
    for n in (8, 12, 20):
        model = _meta(f"single-stage-n{n}")
        assert len(model.body.blocks) == n


def test_unknown_variant_lists_known():
    with pytest.raises(ValueError, match="known variants: single-stage, multi-stage"):
        rdafnet.build("nafnet")


def test_unknown_override_lists_allowed():
    with pytest.raises(ValueError, match="allowed: .*num_blocks"):
        rdafnet.build("tiny", depth=3)


def test_overrides_apply():
    model = rdafnet.build("single-stage", width=8, num_blocks=2, num_convs=3)
    assert len(model.body.blocks) == 2 and model.body.blocks[0].num_convs == 3
    assert model.body.head.out_channels == 8


def _small(variant):
    torch.manual_seed(0)
    return rdafnet.build(variant, width=8, num_blocks=2 if variant == "single-stage" else [1, 1, 2]).eval()


@pytest.mark.parametrize("variant", ["single-stage", "multi-stage"])
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (37, 53), (64, 48)])
def test_any_size_keeps_shape_and_range(variant, size):
    model = _small(variant)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        stages = model(x, return_stages=True)
    assert len(stages) == model.num_stages
    for y in stages:
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0 and y.max() <= 1


def test_even_sizes_are_not_padded():
    model = _small("single-stage").double()
    x = torch.rand(1, 3, 32, 48, dtype=torch.float64)
    with torch.no_grad():
        a = model(x)
        b = (model.forward_signed(x * 2 - 1)[0] + 1) / 2
    assert torch.equal(a, b)


def test_odd_size_is_padded_and_cropped_consistently():
    # an odd input equals the even, reflect-padded input's output cropped back
    model = _small("single-stage").double()
    x = torch.rand(1, 3, 33, 47, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1), mode="reflect")
    with torch.no_grad():
        assert torch.equal(model(x), model(padded)[..., :33, :47])


@pytest.mark.parametrize("variant", ["single-stage", "multi-stage"])
def test_batch_equals_per_sample(variant):
    model = _small(variant).double()
    x = torch.rand(3, 3, 20, 28, dtype=torch.float64)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.rand(3, 16, 16), "4-D tensor"),
        (torch.rand(1, 1, 16, 16), "expected 3 channels"),
        (torch.rand(1, 4, 16, 16), "expected 3 channels"),
        (torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8), "floating-point"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN or inf"),
        (torch.full((1, 3, 16, 16), float("inf")), "NaN or inf"),
        (torch.rand(0, 3, 16, 16), "non-empty"),
    ],
)
def test_bad_input_is_a_clear_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        _small("single-stage")(bad)


@pytest.mark.slow
def test_torch_compile_smoke():
    model = _small("single-stage")
    x = torch.rand(1, 3, 32, 32)
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
