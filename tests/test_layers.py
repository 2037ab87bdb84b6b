"""Each block alone: shapes, any channel count, gradient flow, float64 re-computation."""

import pytest
import torch
import torch.nn.functional as F

from rdafnet import RDAFB, AttentionFusion, CrossStageFusion, PixelAttention, SupervisedAttention


def _grads_reach_every_parameter(module, *inputs):
    out = module(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    out.square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for x in inputs:
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [1, 5, 32])
def test_pixel_attention(channels):
    am = PixelAttention(channels)
    x = torch.randn(2, channels, 9, 7, requires_grad=True)
    m = am(x)
    assert m.shape == x.shape and (m > 0).all() and (m < 1).all()
    _grads_reach_every_parameter(am, x)


@pytest.mark.parametrize("channels,num_maps", [(3, 2), (16, 4), (7, 5)])
def test_attention_fusion_is_eq6(channels, num_maps):
    afm = AttentionFusion(channels, num_maps=num_maps).double()
    maps = [torch.rand(2, channels, 6, 5, dtype=torch.float64, requires_grad=True) for _ in range(num_maps)]
    ref = F.conv2d(torch.cat(maps, 1), afm.reduce.weight, afm.reduce.bias)
    ref = F.conv2d(F.conv2d(ref, afm.dsc.depthwise.weight, padding=1, groups=channels), afm.dsc.pointwise.weight)
    torch.testing.assert_close(afm(*maps), ref, rtol=0, atol=1e-12)
    _grads_reach_every_parameter(afm, *maps)
    with pytest.raises(ValueError, match=f"built for {num_maps} maps"):
        afm(*maps[:-1])


def _rdafb_float64_reference(block, x, residual=True):
    """The block written out from the specification, independent of the module's loop."""
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    conv = lambda i, t: F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), block.convs[i].weight, block.convs[i].bias)  # noqa: E731
    am = lambda i, t: torch.sigmoid(F.conv2d(t, block.attns[i].proj.weight, block.attns[i].proj.bias))  # noqa: E731
    maps, h = [], x
    for i in range(block.num_convs):
        maps.append(am(i, h))
        gate = maps[0] if i == 0 else block.fusions[i - 1](*maps)
        h = F.instance_norm(conv(i, h * gate))
        h = lrelu(h) if i < block.num_convs - 1 else h
    return F.relu(h + x) if residual else F.relu(h)


@pytest.mark.parametrize("channels,num_convs", [(4, 1), (6, 2), (16, 4), (8, 6)])
def test_rdafb_matches_specification(channels, num_convs):
    torch.manual_seed(0)
    block = RDAFB(channels, num_convs=num_convs).double()
    x = torch.randn(2, channels, 10, 12, dtype=torch.float64, requires_grad=True)
    assert len(block.attns) == num_convs and len(block.fusions) == num_convs - 1
    torch.testing.assert_close(block(x), _rdafb_float64_reference(block, x), rtol=0, atol=1e-12)
    _grads_reach_every_parameter(block, x)


def test_rdafb_ablations():
    x = torch.randn(1, 8, 10, 10, dtype=torch.float64)
    layer = RDAFB(8, attention="layer").double()
    assert len(layer.fusions) == 0 and len(layer.attns) == 4
    none = RDAFB(8, attention="none").double()
    assert len(none.attns) == 0
    h = x
    for i, conv in enumerate(none.convs):
        h = F.instance_norm(conv(h))
        h = F.leaky_relu(h, 0.2) if i < 3 else h
    torch.testing.assert_close(none(x), F.relu(h + x), rtol=0, atol=1e-12)
    nores = RDAFB(8, residual=False).double()
    torch.testing.assert_close(nores(x), _rdafb_float64_reference(nores, x, residual=False), rtol=0, atol=1e-12)
    assert not torch.allclose(nores(x), _rdafb_float64_reference(nores, x, residual=True))
    with pytest.raises(ValueError, match="attention must be one of"):
        RDAFB(8, attention="spatial")


def test_rdafb_stack_in_a_users_network():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 24, 3, padding=1),
        *[RDAFB(24, num_convs=3) for _ in range(3)],
        torch.nn.Conv2d(24, 3, 3, padding=1),
    )
    x = torch.rand(2, 3, 17, 23, requires_grad=True)
    _grads_reach_every_parameter(net, x)


def test_sam_and_csff():
    sam = SupervisedAttention(12)
    f = torch.randn(2, 12, 8, 8, requires_grad=True)
    img = torch.rand(2, 3, 8, 8, requires_grad=True)
    feats, out = sam(f, img)
    assert feats.shape == f.shape and out.shape == img.shape
    torch.testing.assert_close(out, sam.to_image(f) + img)
    _grads_reach_every_parameter(sam, f, img)
    csff = CrossStageFusion(10)
    h, e, d = (torch.randn(1, 10, 4, 4, requires_grad=True) for _ in range(3))
    torch.testing.assert_close(csff(h, e, d), h + csff.enc(e) + csff.dec(d))
    _grads_reach_every_parameter(csff, h, e, d)
