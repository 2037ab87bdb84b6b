"""Saving and loading: round trips, a real Hugging Face cache layout offline, integrity, errors."""

import hashlib
import json
import os
import pickle
import shutil

import pytest
import torch
from helpers import ROOT, recipe_state_dict

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.weights import hub


def _same_function(a, b, size=(12, 10)):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("variant", rdafnet.list_models())
def test_round_trip_every_variant(tmp_path, variant):
    torch.manual_seed(0)
    model = rdafnet.build(variant).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["variant"] == variant and cfg["input_range"] == [0.0, 1.0]
    assert not {"revision", "cache_dir", "token"} & set(cfg)
    loaded = rdafnet.from_pretrained(tmp_path)
    assert loaded.config == model.config and not loaded.training
    assert _same_function(model, loaded)
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: rdafnet" in card and "image-deblurring" in card


def test_saved_files_get_the_usual_permissions(tmp_path):
    # written through a 0600 temporary file; safetensors replaces the file it is given
    umask = os.umask(0o022)
    try:
        rdafnet.build("tiny").save_pretrained(tmp_path)
    finally:
        os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
        "config.json": 0o644,
        "model.safetensors": 0o644,
        "README.md": 0o644,
    }


def test_model_card_keeps_each_metric_under_its_dataset(tmp_path):
    from huggingface_hub import ModelCard

    model = rdafnet.build("tiny").eval()
    metrics = [
        {"dataset": "GoPro frame A (test)", "type": "psnr", "value": 25.25},
        {"dataset": "GoPro frame B (held-out)", "type": "psnr", "value": 27.51},
    ]
    model.save_pretrained(tmp_path, model_card_kwargs={"metrics": metrics})
    results = ModelCard.load(tmp_path / "README.md").data.eval_results
    assert sorted((r.dataset_name, r.metric_value) for r in results) == [
        ("GoPro frame A (test)", 25.25),
        ("GoPro frame B (held-out)", 27.51),
    ]


def test_single_safetensors_file_carries_its_config(tmp_path):
    model = rdafnet.build("tiny").eval()
    model.save_pretrained(tmp_path / "m")
    shutil.copy(tmp_path / "m" / "model.safetensors", tmp_path / "alone.safetensors")
    assert _same_function(model, rdafnet.from_pretrained(tmp_path / "alone.safetensors"))
    assert _same_function(model, rdafnet.RDAFNet.from_pretrained(tmp_path / "m"))
    with pytest.raises(ValueError, match="not a RDAFNetMultiStage"):
        rdafnet.RDAFNetMultiStage.from_pretrained(tmp_path / "m")


def make_hf_cache(cache, repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567"):
    """The layout huggingface_hub writes: blobs named by content hash, snapshots linking to them."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in folder.iterdir():
        data = f.read_bytes()
        # LFS files (weights) are stored under their sha256, small git files under their git sha1
        digest = (
            hashlib.sha256(data).hexdigest()
            if f.suffix == ".safetensors"
            else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        )
        (repo / "blobs" / digest).write_bytes(data)
        os.symlink(os.path.relpath(repo / "blobs" / digest, snap), snap / f.name)
    return repo, commit


@pytest.fixture
def hub_model(tmp_path):
    torch.manual_seed(1)
    model = rdafnet.build("tiny").eval()
    model.save_pretrained(tmp_path / "export")
    repo, commit = make_hf_cache(tmp_path / "cache", "acme/rdafnet-tiny", tmp_path / "export")
    return model, tmp_path / "cache", repo, commit


def test_hub_id_loads_offline_from_cache(hub_model):
    model, cache, _, commit = hub_model
    for source in ("acme/rdafnet-tiny", f"acme/rdafnet-tiny@{commit}"):
        loaded = rdafnet.from_pretrained(source, cache_dir=cache, local_files_only=True)
        assert _same_function(model, loaded)


def test_hub_id_missing_from_cache_says_what_to_do(hub_model):
    _, cache, _, _ = hub_model
    with pytest.raises(ValueError, match="not in the local Hugging Face cache"):
        rdafnet.from_pretrained("acme/other-model", cache_dir=cache, local_files_only=True)


def test_tampered_hub_blob_is_rejected(hub_model):
    _, cache, repo, _ = hub_model
    blob = next(p for p in (repo / "blobs").iterdir() if len(p.name) == 64)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # a weight byte: still a valid safetensors file
    blob.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError, match="sha256"):
        rdafnet.from_pretrained("acme/rdafnet-tiny", cache_dir=cache, local_files_only=True)


def test_registered_hub_entry_checks_pinned_sha256(hub_model, monkeypatch):
    model, cache, repo, commit = hub_model
    snap = repo / "snapshots" / commit
    entry = {
        "description": "test",
        "source": "hub",
        "repo_id": "acme/rdafnet-tiny",
        "revision": commit,
        "sha256": {n: hub.sha256(snap / n) for n in ("config.json", "model.safetensors")},
    }
    monkeypatch.setattr(hub.registry, "models", lambda: {"acme-tiny": entry})
    assert _same_function(model, rdafnet.from_pretrained("acme-tiny", cache_dir=cache, local_files_only=True))
    entry["sha256"]["config.json"] = "0" * 64
    with pytest.raises(hub.IntegrityError, match="config.json has sha256"):
        rdafnet.from_pretrained("acme-tiny", cache_dir=cache, local_files_only=True)


def test_bad_files_give_clear_errors(tmp_path):
    model = rdafnet.build("tiny")
    model.save_pretrained(tmp_path / "ok")
    data = (tmp_path / "ok" / "model.safetensors").read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="trunc.safetensors is not a readable safetensors file"):
        rdafnet.from_pretrained(tmp_path / "trunc.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="junk.safetensors is not a readable safetensors"):
        rdafnet.from_pretrained(tmp_path / "junk.safetensors")
    (tmp_path / "weights.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match=r"unsupported weights file .*weights\.bin"):
        rdafnet.from_pretrained(tmp_path / "weights.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no model.safetensors"):
        rdafnet.from_pretrained(tmp_path / "empty")
    with pytest.raises(ValueError, match="'no-such-model' is not a registered model"):
        rdafnet.from_pretrained("no-such-model")


def test_config_for_another_variant_names_the_mismatch(tmp_path):
    rdafnet.build("tiny").save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(variant="small", width=24, num_blocks=6)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"model\.safetensors \(config: small\).*missing keys: body\.blocks\.4"):
        rdafnet.from_pretrained(tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    path = tmp_path / "GoPro.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Exploit()}, f)
    with pytest.raises(ValueError, match="weights_only=True"), pytest.warns(UserWarning, match="pickle protocol"):
        rdafnet.from_pretrained(path)
    assert not marker.exists()
    with open(path, "rb") as f:  # the exploit is real: a plain unpickle runs it
        pickle.load(f)
    assert marker.exists()


def test_authors_checkpoint_convert_cli_and_load(reference_dir, tmp_path, capsys):
    sd = {"module." + k: v for k, v in recipe_state_dict("single-stage").items()}
    torch.save({"epoch": 1, "state_dict": sd, "optimizer": {}}, tmp_path / "GoPro.pth")
    direct = rdafnet.from_pretrained(tmp_path / "GoPro.pth")
    assert direct.variant == "single-stage"
    assert cli(["convert", str(tmp_path / "GoPro.pth"), str(tmp_path / "out")]) == 0
    assert _same_function(direct, rdafnet.from_pretrained(tmp_path / "out"), size=(8, 8))
    assert cli(["convert", str(tmp_path / "GoPro.pth"), str(tmp_path / "out")]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_torch_hub_local(tmp_path):
    model = torch.hub.load(str(ROOT), "rdafnet", source="local", pretrained=False, variant="tiny", width=8)
    assert isinstance(model, rdafnet.RDAFNet) and model.body.head.out_channels == 8


def test_config_and_weights_are_validated_before_use(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    model = rdafnet.build("tiny", width=8, num_blocks=1).eval()
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["weights_sha256"] == hub.sha256(tmp_path / "m" / "model.safetensors")

    def folder(name, cfg=None, tensors=None):
        d = tmp_path / name
        shutil.copytree(tmp_path / "m", d)
        if cfg is not None:
            (d / "config.json").write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
        if tensors is not None:
            save_file(tensors, str(d / "model.safetensors"))
            c = json.loads((d / "config.json").read_text())
            c.pop("weights_sha256")
            (d / "config.json").write_text(json.dumps(c))
        return d

    cases = [
        (folder("json", "{not json"), r"config\.json.*JSON"),
        (folder("str", {**config, "width": "16"}), r"config\.json.*width='16' \(must be an integer"),
        (folder("neg", {**config, "num_convs": -2}), r"num_convs=-2"),
        (folder("huge", {**config, "num_blocks": 1000000}), r"num_blocks=1000000"),
        (folder("list", {**config, "num_blocks": [4, 4]}), r"must be an integer for RDAFNet"),
        (folder("extra", {**config, "depth": 3}), r"unknown key\(s\) \['depth'\]"),
    ]
    sd = load_file(tmp_path / "m" / "model.safetensors")
    k = "tail.weight"
    cases.append(
        (folder("nan", tensors={**sd, k: sd[k].clone().fill_(float("nan"))}), r"NaN or inf values in tail\.weight")
    )
    cases.append((folder("int", tensors={**sd, k: sd[k].to(torch.int32)}), r"not floating point: tail\.weight"))
    for path, match in cases:
        with pytest.raises(ValueError, match=match):
            rdafnet.from_pretrained(path)
    flipped = folder("flip")
    data = bytearray((flipped / "model.safetensors").read_bytes())
    data[-5] ^= 1
    (flipped / "model.safetensors").write_bytes(bytes(data))
    for load in (rdafnet.from_pretrained, rdafnet.RDAFNet.from_pretrained):
        with pytest.raises(hub.IntegrityError, match=r"flip/model\.safetensors has sha256"):
            load(flipped)
