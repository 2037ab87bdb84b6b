"""The authors' releases as named models: download (from a loopback server), registration of a file
fetched by hand, the cache entry and its checks, and the offline message. No test touches the internet."""

from __future__ import annotations

import http.server
import threading

import pytest
import torch
from helpers import recipe_state_dict

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.utils.checkpoint import IntegrityError
from rdafnet.weights import authors

NAME = "rdafnet-single-stage-gopro"


def _authors_file(path, variant="single-stage", scale=1.0):
    """A checkpoint in the authors' release format: recipe weights, DataParallel prefixes, optimizer state."""
    sd = {f"module.{k}": v * scale for k, v in recipe_state_dict(variant).items()}
    torch.save({"epoch": 3000, "state_dict": sd, "optimizer": {"state": {}, "param_groups": []}}, path)
    return path


@pytest.fixture(scope="module")
def gopro_pth(tmp_path_factory):
    return _authors_file(tmp_path_factory.mktemp("authors") / "GoPro.pth")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """An empty cache of this test's own; no mirror or offline setting from the environment."""
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RDAFNET_MIRROR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "cache"


class Server:
    """A loopback HTTP server: ``files[path] = bytes``; ``cut`` sends half of each body under the
    full Content-Length and closes the connection (an interrupted download)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut = False
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if server.cut else body)
                if server.cut:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(gopro_pth):
    pytest.importorskip("gdown")
    s = Server()
    s.files[f"/{NAME}/GoPro.pth"] = gopro_pth.read_bytes()
    yield s
    s.close()


def _same(a, b):
    x = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def _leftovers(cache):
    models = cache / "models"
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_registry_lists_the_authors_releases():
    names = rdafnet.list_pretrained()
    assert {"rdafnet-single-stage-gopro", "rdafnet-multi-stage-gopro"} <= set(names)
    for name, variant, params, gopro in (
        ("rdafnet-single-stage-gopro", "single-stage", 14_195_072, 32.24),
        ("rdafnet-multi-stage-gopro", "multi-stage", 28_967_302, 33.06),
    ):
        info = rdafnet.weights.hub.pretrained_info(name)
        assert info["variant"] == variant and info["license"] == "MIT" and info["file"] == "GoPro.pth"
        assert info["paper"]["GoPro"]["psnr"] == gopro and "HIDE" in info["paper"]
        assert info["cached"] is False and info["cache_path"].endswith(name)
        # the registered parameter count is the network's (and the authors' key list's)
        assert sum(p.numel() for p in rdafnet.build(variant).parameters()) == params


def test_offline_with_an_empty_cache_says_how_to_get_the_file(server, monkeypatch, capsys):
    monkeypatch.setenv("RDAFNET_MIRROR", server.url)  # would work, but offline must not try it
    with pytest.raises(authors.WeightsUnavailableError) as err:
        rdafnet.from_pretrained(NAME, local_files_only=True)
    msg = str(err.value)
    assert "offline" in msg and "1AqG7TwUyA81GmyvHD5O4IYXrcsEYdSVR" in msg and f"rdafnet download {NAME} --from" in msg
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli(["download", NAME]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--from GoPro.pth" in lines[0]
    assert "Traceback" not in lines[0] and server.requests == []


def test_from_file_registers_and_loads_offline(gopro_pth, cache, capsys):
    assert cli(["download", NAME, "--from", str(gopro_pth)]) == 0
    assert "now loads it offline" in capsys.readouterr().out
    cached = rdafnet.from_pretrained(NAME, local_files_only=True)
    assert cached.pretrained["name"] == NAME and not cached.training
    assert _same(cached, rdafnet.from_pretrained(gopro_pth))
    info = rdafnet.weights.hub.pretrained_info(NAME)
    assert info["cached"] and info["file_sha256"] == rdafnet.weights.hub.sha256(gopro_pth)
    assert {p.name for p in (cache / "models" / NAME).iterdir()} == {
        "config.json",
        "model.safetensors",
        "README.md",
        "source.json",
    }
    card = (cache / "models" / NAME / "README.md").read_text()
    assert "32.24" in card and info["file_sha256"] in card and "MIT" in card
    assert cli(["info", NAME]) == 0
    assert info["file_sha256"] in capsys.readouterr().out


def test_a_flipped_byte_in_the_cache_entry_is_refused(gopro_pth, cache):
    folder = rdafnet.download(NAME, file=gopro_pth)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # a weight byte: still a readable safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"rdafnet download {NAME} --force"):
        rdafnet.from_pretrained(NAME, local_files_only=True)
    (folder / "source.json").unlink()
    with pytest.raises(IntegrityError, match="damaged .missing source.json"):
        authors.cached_files(NAME)
    rdafnet.download(NAME, file=gopro_pth)  # the repair the message names
    assert _same(rdafnet.from_pretrained(NAME, local_files_only=True), rdafnet.from_pretrained(gopro_pth))


def test_download_from_a_loopback_server(server, gopro_pth, cache):
    folder = rdafnet.download(NAME, mirror=server.url)
    assert server.requests == [f"/{NAME}/GoPro.pth"] and folder == cache / "models" / NAME
    assert authors.cache_status(NAME)["file_sha256"] == rdafnet.weights.hub.sha256(gopro_pth)
    model = rdafnet.from_pretrained(NAME)  # cached: no second request
    assert server.requests == [f"/{NAME}/GoPro.pth"]
    assert _same(model, rdafnet.from_pretrained(gopro_pth))
    assert _leftovers(cache) == ["known_sha256.json", NAME]


def test_from_pretrained_downloads_on_first_use(server, gopro_pth, monkeypatch):
    monkeypatch.setenv("RDAFNET_MIRROR", server.url)
    assert _same(rdafnet.from_pretrained(NAME), rdafnet.from_pretrained(gopro_pth))
    assert len(server.requests) == 1


def test_an_interrupted_download_leaves_nothing_and_a_retry_works(server, cache):
    server.cut = True
    with pytest.raises(authors.WeightsUnavailableError, match="downloading http://127.0.0.1.* failed"):
        rdafnet.download(NAME, mirror=server.url)
    assert _leftovers(cache) == []  # no entry, no partial file, no first-use record
    server.cut = False
    assert rdafnet.download(NAME, mirror=server.url).is_dir()
    assert _leftovers(cache) == ["known_sha256.json", NAME]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_truncated_or_corrupted_file_is_refused(server, cache, damage):
    good = server.files[f"/{NAME}/GoPro.pth"]
    server.files[f"/{NAME}/GoPro.pth"] = good[: len(good) // 3] if damage == "truncated" else b"\x00junk" * 999
    with pytest.raises(ValueError, match="is not a usable authors' GoPro.pth .* nothing was cached"):
        rdafnet.download(NAME, mirror=server.url)
    assert _leftovers(cache) == []


def test_a_file_whose_sha256_changed_after_first_use_is_refused(server, gopro_pth, tmp_path):
    rdafnet.download(NAME, mirror=server.url)
    first = rdafnet.weights.hub.sha256(gopro_pth)
    server.files[f"/{NAME}/GoPro.pth"] = _authors_file(tmp_path / "other.pth", scale=0.5).read_bytes()
    with pytest.raises(IntegrityError, match=f"had {first}: the file changed since first use.*--trust-new-file"):
        rdafnet.download(NAME, mirror=server.url, force=True)
    with pytest.raises(IntegrityError, match="changed since first use"):
        rdafnet.download(NAME, file=tmp_path / "other.pth")
    kept = rdafnet.from_pretrained(NAME, local_files_only=True)  # the entry is untouched
    assert _same(kept, rdafnet.from_pretrained(gopro_pth))
    rdafnet.download(NAME, mirror=server.url, force=True, trust_new_file=True)
    assert authors.cache_status(NAME)["file_sha256"] == rdafnet.weights.hub.sha256(tmp_path / "other.pth")
    assert _same(rdafnet.from_pretrained(NAME), rdafnet.from_pretrained(tmp_path / "other.pth"))


def test_an_unreachable_source_gives_the_paragraph(server, cache):
    server.close()  # nothing listens on that port any more
    with pytest.raises(authors.WeightsUnavailableError) as err:
        rdafnet.download(NAME, mirror=server.url)
    msg = str(err.value)
    assert "cannot be downloaded now: downloading" in msg and "--from GoPro.pth" in msg
    assert _leftovers(cache) == []


def test_without_the_downloader_the_paragraph_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gdown", None)  # import gdown raises ImportError
    with pytest.raises(authors.WeightsUnavailableError, match=r'pip install "rdafnet\[download\]".*--from'):
        rdafnet.download(NAME)


def test_a_file_of_the_other_network_is_refused(gopro_pth, cache):
    with pytest.raises(IntegrityError, match="hold a single-stage network .*not the authors' multi-stage"):
        rdafnet.download("rdafnet-multi-stage-gopro", file=gopro_pth)
    assert _leftovers(cache) == []
    with pytest.raises(ValueError, match="is a bundled model, not an authors' release"):
        rdafnet.download("rdafnet-tiny-gopro-v4")


def test_the_derain_checkpoint_layout_loads_by_file(tmp_path):
    # the authors' test_derain loads SPAD.pth with the same loader into the same multi-stage network
    spad = _authors_file(tmp_path / "SPAD.pth", "multi-stage")
    model = rdafnet.from_pretrained(spad)
    assert model.variant == "multi-stage" and sum(p.numel() for p in model.parameters()) == 28_967_302
    assert _same(model, rdafnet.weights.convert.from_official(recipe_state_dict("multi-stage"), source="recipe").eval())
