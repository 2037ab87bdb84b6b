"""The bundled default model: present in the package, sha256-checked, restores the sample."""

import shutil

import numpy as np
import pytest

import rdafnet
from rdafnet.io.image import read_image
from rdafnet.weights import hub


def test_bundled_default_loads_offline_and_is_registered():
    names = rdafnet.list_pretrained()
    assert names, "no bundled model registered"
    model = rdafnet.from_pretrained()
    assert model.pretrained["source"] == "bundled" and not model.training
    entry = hub.pretrained_info()
    assert set(entry["sha256"]) == {"config.json", "model.safetensors"}
    card = (hub.bundled_dir(entry) / "README.md").read_text()
    assert "library_name: rdafnet" in card and "Measured quality" in card


def test_tampered_bundled_weights_are_rejected(tmp_path, monkeypatch):
    entry = hub.pretrained_info()
    dst = tmp_path / "weights"
    shutil.copytree(hub.bundled_dir(entry), dst)
    data = bytearray((dst / "model.safetensors").read_bytes())
    data[-3] ^= 1
    (dst / "model.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(hub, "bundled_dir", lambda e: dst)
    with pytest.raises(hub.IntegrityError, match="model.safetensors has sha256.*reinstall it"):
        rdafnet.from_pretrained()


def test_sample_image_restores_with_same_shape():
    sample = hub.bundled_dir({"path": "samples"}) / "gopro_blurry.png"
    img = read_image(str(sample))
    small = img[:128, :192]
    out = rdafnet.deblur(small)
    assert out.shape == small.shape and out.dtype == np.uint8


BUNDLED = [name for name in rdafnet.list_pretrained() if hub.pretrained_info(name)["source"] == "bundled"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_reproduces_its_registered_metrics(data_dir, name):
    # the PSNRs in the registry (and model card) are re-measured on the real frames they name
    # (PSNR only: the SSIMs of the card would triple the time of this test)
    from rdafnet.data import find_pairs
    from rdafnet.evaluation.metrics import psnr

    entry = hub.pretrained_info(name)
    pairs = {
        b.name: (b, s)
        for d in ("gopro_dev", "gopro_train_pairs", "gopro_train_GOPR0372_07_00")
        for b, s in find_pairs(data_dir / d)
    }
    assert set(entry["metrics"]) <= set(pairs)
    model = rdafnet.optimize(rdafnet.from_pretrained(name))
    for image, m in entry["metrics"].items():
        blur, sharp = (read_image(p)[..., :3] for p in pairs[image])
        assert psnr(blur, sharp) == pytest.approx(m["psnr_blurry"], abs=0.006)
        assert psnr(rdafnet.deblur(blur, model), sharp) == pytest.approx(m["psnr"], abs=0.01), image
