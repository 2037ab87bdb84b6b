"""The shared cache: its records are checked and named with the repair, registrations under one name are
serialised, a link planted for any file the cache writes is never written through, and a cache that is a
file or read-only never stops a run."""

from __future__ import annotations

import json
import threading

import pytest
from test_authors import NAME, _authors_file

import rdafnet
from rdafnet.cli import main
from rdafnet.utils.checkpoint import IntegrityError, sha256


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RDAFNET_MIRROR", raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("content", ['["a list"]', '{"rdafnet-single-stage-gopro": "abc"}', "{not json"])
def test_a_damaged_record_is_named_with_the_repair(cache, capsys, content):
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "known_sha256.json").write_text(content)
    for command in (["info", NAME], ["list"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "known_sha256.json" in err[0] and "delete it" in err[0], err


def test_two_registrations_under_one_name_never_mix_their_files(tmp_path, cache):
    files = [_authors_file(tmp_path / f"GoPro{k}.pth", scale=1.0 + k) for k in (0, 1)]
    outcome: dict[int, object] = {}

    def register(k: int) -> None:
        try:
            outcome[k] = rdafnet.download(NAME, files[k])
        except IntegrityError as exc:
            outcome[k] = exc

    threads = [threading.Thread(target=register, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    errors = [v for v in outcome.values() if isinstance(v, IntegrityError)]
    assert len(outcome) == 2 and len(errors) == 1  # the second file differs from the first one recorded
    recorded = json.loads((cache / "models" / "known_sha256.json").read_text())[NAME]["sha256"]
    source = json.loads((cache / "models" / NAME / "source.json").read_text())
    assert source["file_sha256"] == recorded and recorded in {sha256(f) for f in files}


def test_no_file_the_cache_writes_is_written_through_a_planted_link(tmp_path, cache):
    from rdafnet.ops.auto import auto_precision
    from rdafnet.utils.lock import exclusive

    cache.mkdir()
    (cache / "models").mkdir()
    (cache / "locks").mkdir()
    planted = [
        cache / "auto_precision.json",
        cache / "models" / "known_sha256.json",
        cache / "locks" / "register.lock",
    ]
    victims = []
    for k, link in enumerate(planted):
        victim = tmp_path / f"victim{k}.txt"
        victim.write_text("the user's file")
        link.symlink_to(victim)
        victims.append(victim)
    with exclusive(tmp_path / "out", "a run"):  # its lock and owner files are planted links too
        pass
    for link in (cache / "locks").glob("*"):
        if not link.is_symlink():
            victim = tmp_path / f"victim-{link.name}"
            victim.write_text("the user's file")
            link.unlink()
            link.symlink_to(victim)
            victims.append(victim)
    with pytest.warns(RuntimeWarning, match="no lock on"), exclusive(tmp_path / "out", "a second run"):
        pass  # the planted lock is not followed: the run goes on without one and says so
    try:
        rdafnet.download(NAME, _authors_file(tmp_path / "GoPro.pth"))  # writes known_sha256.json
    except ValueError:
        pass  # a planted record that is not a table is refused: also fine
    auto_precision("cpu", key="planted-link-test", measure=lambda c, side: 1.0, extra=("fp32-winograd",))
    assert [v.read_text() for v in victims] == ["the user's file"] * len(victims)


def test_a_cache_that_is_a_file_never_stops_a_run(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    (tmp_path / "cachefile").write_text("not a folder")
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path / "cachefile"))
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "in.png")
    with pytest.warns(RuntimeWarning, match="no lock on"):
        assert main(["deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "in.png").exists()
