"""spandrel support: the authors' GoPro.pth and this library's safetensors load through
spandrel.ModelLoader into descriptors that compute what rdafnet.from_pretrained gives."""

import sys

import pytest
import torch
from helpers import recipe_state_dict

import rdafnet


def _same(a, b, size=(18, 26)):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_install_without_spandrel_says_what_to_install(monkeypatch):
    import rdafnet.weights.spandrel

    monkeypatch.setitem(sys.modules, "spandrel", None)
    with pytest.raises(ImportError, match=r'pip install "rdafnet\[spandrel\]"'):
        rdafnet.weights.spandrel.install()


def test_infer_config_recovers_every_variant():
    from rdafnet.weights.convert import infer_config

    for variant in rdafnet.list_models():
        model = rdafnet.build(variant)
        want = {k: model.config[k] for k in ("architecture", "width", "num_blocks", "attention", "num_convs")}
        assert infer_config(model.state_dict()) == want, variant


@pytest.fixture
def spandrel():
    sp = pytest.importorskip("spandrel", reason="spandrel (and the torchvision it imports) is not installed")
    import rdafnet.weights.spandrel

    rdafnet.weights.spandrel.install()
    rdafnet.weights.spandrel.install()  # twice is harmless
    return sp


def test_authors_checkpoint_loads_through_spandrel(spandrel, tmp_path):
    path = tmp_path / "GoPro.pth"
    torch.save(
        {
            "epoch": 1,
            "state_dict": {f"module.{k}": v for k, v in recipe_state_dict("single-stage").items()},
            "optimizer": {},
        },
        path,
    )
    desc = spandrel.ModelLoader().load_from_file(path)
    assert desc.architecture.id == "RDAFNet" and desc.purpose == "Restoration" and desc.scale == 1
    assert desc.size_requirements.multiple_of == 2 and desc.size_requirements.minimum == 4
    assert desc.supports_bfloat16 and not desc.supports_half
    assert desc.input_channels == desc.output_channels == 3
    ours = rdafnet.from_pretrained(path)
    assert _same(desc.model.eval(), ours)
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        assert torch.equal(desc(x), ours(x))  # spandrel's call: [0, 1] images in and out


@pytest.mark.parametrize("variant", ["tiny", "multi-stage"])
def test_our_safetensors_load_through_spandrel(spandrel, tmp_path, variant):
    torch.manual_seed(0)
    rdafnet.build(variant).save_pretrained(tmp_path)
    desc = spandrel.ModelLoader().load_from_file(tmp_path / "model.safetensors")
    assert desc.architecture.id == "RDAFNet" and variant in desc.tags
    assert _same(desc.model.eval(), rdafnet.from_pretrained(tmp_path))
