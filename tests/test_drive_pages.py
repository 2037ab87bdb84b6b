"""What Google Drive answers instead of a file, served by a loopback server through the real download path
(gdown over HTTP): each page gives one line naming what came back and the manual path (the URL to open
and the --from command), no traceback, nothing cached. The pages carry the markers gdown itself reads
(``uc-error-subcaption``, ``download-form``) and the texts Drive shows; no test reaches the internet."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from test_authors import _leftovers, cache  # noqa: F401 - the autouse cache fixture

from rdafnet.cli import main as cli
from rdafnet.weights import authors

NAME = "rdafnet-single-stage-gopro"
FOLDER_URL = "https://drive.google.com/drive/folders/" + authors.registry.entry(NAME)["drive_folder"]

QUOTA = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">Sorry, you can&#39;t view or download this file
at this time.</p><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please
try accessing the file again later. If the file you are trying to access is particularly large or is shared with
many people, it may take up to 24 hours to be able to view or download the file. If you still can't access a file
after 24 hours, contact your domain administrator.</p></div></div></body></html>"""
VIRUS = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can&#39;t scan this file for
viruses.</p><p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id=x">GoPro.pth</a>
(110M)</span> is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/><input type="hidden" name="id" value="x">
<input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t"></form>
</div></div></body></html>"""
SIGN_IN = """<!DOCTYPE html><html lang="en"><head><title>Sign in - Google Accounts</title></head><body>
<form action="https://accounts.google.com/v3/signin/identifier" method="post"><input type="email"
name="identifier"></form></body></html>"""
UNKNOWN = "<!DOCTYPE html><html><head><title>Moved</title></head><body>elsewhere</body></html>"


class Pages:
    """A loopback server answering every request with ``page`` (HTML), a redirect to a sign-in page, or a
    stall at a chosen stage: ``"connect"`` (accepts, never reads), ``"headers"`` (reads the request, never
    answers) or ``"body"`` (sends headers and part of the body, then nothing)."""

    def __init__(self, page: str | None = None, *, stall: str | None = None, redirect: bool = False):
        self.release = threading.Event()
        pages = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook
                if redirect and not self.path.startswith("/ServiceLogin"):
                    self.send_response(302)
                    self.send_header("Location", "/ServiceLogin?continue=https://drive.google.com/")
                    self.end_headers()
                    return
                if stall == "headers":
                    pages.release.wait(60)
                    return
                body = (page or "").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body) if stall != "body" else 1 << 20))
                self.end_headers()
                self.wfile.write(body)
                if stall == "body":
                    self.wfile.flush()
                    pages.release.wait(60)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request, client_address):  # "connect": accepted, never read
                if stall == "connect":
                    pages.release.wait(60)
                    return
                super().process_request(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _download(tmp_path, capsys, pages: Pages) -> str:
    pytest.importorskip("gdown")
    try:
        assert cli(["download", NAME, "--mirror", pages.url]) == 2
    finally:
        pages.close()
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error")]  # (beside the progress bar)
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert ".rdafnet-" not in captured.err  # no temporary path shown to the user
    line = lines[0]
    # the manual path: the exact folder to open in a browser and the command for what the browser gives
    assert (
        FOLDER_URL in line and f"rdafnet download {NAME} --from GoPro.pth" in line and "--from drive-download" in line
    )
    assert _leftovers(tmp_path / "cache") == [] or _leftovers(tmp_path / "cache") == ["locks"]
    assert not authors.cache_status(NAME)["cached"]
    return line


@pytest.mark.parametrize(
    ("page", "said"),
    [
        (QUOTA, "download-quota page"),
        (VIRUS, "virus-scan warning page"),
        (UNKNOWN, "a web page ('Moved') instead of the file"),
    ],
    ids=["quota", "virus-scan", "unknown-page"],
)
def test_each_drive_page_is_named_in_one_line(tmp_path, capsys, page, said):
    line = _download(tmp_path, capsys, Pages(page))
    assert said in line


def test_a_sign_in_redirect_is_named(tmp_path, capsys):
    assert "a sign-in page" in _download(tmp_path, capsys, Pages(SIGN_IN, redirect=True))


@pytest.mark.parametrize("stage", ["connect", "headers", "body"])
def test_a_server_that_stops_answering_ends_the_download(tmp_path, capsys, monkeypatch, stage):
    monkeypatch.setattr(authors, "NETWORK_TIMEOUT", 2)  # the real wait, shortened: the stall itself is real
    t = time.monotonic()
    line = _download(tmp_path, capsys, Pages(UNKNOWN, stall=stage))
    assert "stopped answering for 2 s" in line
    assert time.monotonic() - t < 60  # ended by the timeout, not by the server giving up


def test_a_folder_listing_that_changed_is_named(tmp_path, capsys, monkeypatch):
    """The real folder path: gdown asks the loopback server for Drive's folder view and gets a page without
    the listing it parses."""
    gdown = pytest.importorskip("gdown")
    import requests

    pages = Pages("<!DOCTYPE html><html><head></head><body>a new layout</body></html>")
    original = requests.Session.get

    def to_loopback(self, url, *args, **kw):  # Drive's host, answered by the loopback server
        return original(self, url.replace("https://drive.google.com", pages.url), *args, **kw)

    monkeypatch.setattr(requests.Session, "get", to_loopback)
    assert gdown is not None
    try:
        assert cli(["download", NAME]) == 2
    finally:
        pages.close()
    err = capsys.readouterr().err
    assert "a folder listing this library cannot read" in err and FOLDER_URL in err and "Traceback" not in err
    assert not authors.cache_status(NAME)["cached"]
