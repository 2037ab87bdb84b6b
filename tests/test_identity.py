"""A pretrained model keeps what it is through save_pretrained / from_pretrained / push_to_hub: its name,
source, licence and published metrics in ``config.json``, ``model.pretrained`` and the card; fine-tuned
weights name it as their base model instead."""

import json
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml
from huggingface_hub import HfApi

import rdafnet
from rdafnet.weights import hub

NAME = "rdafnet-tiny-gopro-v4"


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_a_bundled_model_saved_and_loaded_again_is_still_itself(tmp_path):
    model = rdafnet.from_pretrained(NAME)
    model.save_pretrained(tmp_path / "saved")
    entry = hub.pretrained_info(NAME)
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())["pretrained"]
    assert saved["name"] == NAME and saved["source"] == "bundled" and saved["metrics"] == entry["metrics"]
    assert "state_sha256" not in saved and "path" not in saved  # this machine's copy, not the model
    # the card is the one the bundled weights came with, usage example with the real name
    card = (tmp_path / "saved" / "README.md").read_text()
    assert card == (hub.bundled_dir(entry) / "README.md").read_text()
    assert f'rdafnet.from_pretrained("{NAME}")' in card and "PATH_OR_NAME" not in card
    again = rdafnet.from_pretrained(tmp_path / "saved")
    assert again.pretrained["name"] == NAME and again.pretrained["metrics"] == entry["metrics"]
    assert again.pretrained["loaded_from"] == str(tmp_path / "saved")
    # and once more: a second generation keeps it too (byte for byte the same card and identity)
    again.save_pretrained(tmp_path / "twice")
    assert (tmp_path / "twice" / "README.md").read_text() == card
    assert json.loads((tmp_path / "twice" / "config.json").read_text())["pretrained"] == saved
    # the Hub mixin's own loader reads the identity too
    assert rdafnet.RDAFNet.from_pretrained(str(tmp_path / "twice")).pretrained["name"] == NAME


def test_a_card_differs_from_a_random_networks_and_names_where_to_load_it(tmp_path):
    rdafnet.from_pretrained(NAME).save_pretrained(tmp_path / "named")
    rdafnet.build("tiny").save_pretrained(tmp_path / "random")
    named, random = ((tmp_path / d / "README.md").read_text() for d in ("named", "random"))
    assert named != random
    assert _front_matter(named)["model-index"][0]["name"] == NAME
    assert f'rdafnet.from_pretrained("{tmp_path / "random"}")' in random and "PATH_OR_NAME" not in random
    assert rdafnet.from_pretrained(tmp_path / "random").pretrained == {"source": str(tmp_path / "random")}


def test_an_authors_entry_card_carries_licence_source_and_the_papers_metrics(tmp_path):
    from rdafnet.models.card import model_card

    entry = {"name": "rdafnet-multi-stage-gopro", **hub.pretrained_info("rdafnet-multi-stage-gopro")}
    card = str(model_card(rdafnet.build("tiny"), identity=entry, source=entry["name"]))
    meta = _front_matter(card)
    assert meta["license"] == "mit"
    results = {r["dataset"]["name"]: r["metrics"][0]["value"] for r in meta["model-index"][0]["results"]}
    assert results["GoPro test set (paper)"] == 33.06 and results["HIDE test set (paper)"] == 31.28
    assert entry["homepage"] in card and entry["trained_on"] in card
    assert 'rdafnet.from_pretrained("rdafnet-multi-stage-gopro")' in card


def test_fine_tuned_weights_name_their_base_model(tmp_path):
    model = rdafnet.from_pretrained(NAME)
    fast = rdafnet.optimize(model)  # the same weights in fused blocks: still the same model
    fast.save_pretrained(tmp_path / "fast")
    assert json.loads((tmp_path / "fast" / "config.json").read_text())["pretrained"]["name"] == NAME
    with torch.no_grad():
        model.tail.weight.add_(1e-3)  # a step of fine-tuning
    model.save_pretrained(tmp_path / "tuned")
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["pretrained"] == {"base_model": NAME}
    card = (tmp_path / "tuned" / "README.md").read_text()
    assert f"Fine-tuned from `{NAME}`" in card and "model-index" not in card  # its metrics are not the base's
    loaded = rdafnet.from_pretrained(tmp_path / "tuned")
    assert loaded.pretrained["base_model"] == NAME and "name" not in loaded.pretrained
    # a hub id as base model goes into the card's metadata
    loaded.pretrained = {"name": "owner/rdafnet-x", "repo_id": "owner/rdafnet-x", "state_sha256": "0"}
    assert _front_matter(str(loaded.generate_model_card()))["base_model"] == "owner/rdafnet-x"


def test_push_to_hub_uploads_the_identity_and_a_usage_example_with_the_repo_id(tmp_path, monkeypatch):
    uploaded = {}

    def upload_folder(self, *, folder_path, repo_id, **kw):
        uploaded.update({p.name: p.read_text() for p in Path(folder_path).iterdir() if p.suffix in (".md", ".json")})
        return "commit"

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    rdafnet.build("tiny").push_to_hub("someone/my-deblurrer")
    assert 'rdafnet.from_pretrained("someone/my-deblurrer")' in uploaded["README.md"]
    model = rdafnet.from_pretrained(NAME)
    model.push_to_hub("someone/tiny-copy")
    assert json.loads(uploaded["config.json"])["pretrained"]["name"] == NAME
    assert f'rdafnet.from_pretrained("{NAME}")' in uploaded["README.md"]
