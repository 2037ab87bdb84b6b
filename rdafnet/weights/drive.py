"""What Google Drive answers instead of a file, named in words: its download-quota page, the virus-scan
interstitial, a sign-in or access page, a folder listing that changed, a server that stops answering.
The markers are the pages' own texts as gdown reads them."""

from __future__ import annotations

import re
import socket
from pathlib import Path

#: (marker in the page or the downloader's error, what Drive answered)
ANSWERS = [
    (
        re.compile(r"Too many users have viewed or downloaded this file recently|Quota exceeded", re.I),
        'its download-quota page ("Too many users have viewed or downloaded this file recently"; it resets '
        "within 24 hours, a browser signed in to Google usually still gets the file)",
    ),
    (
        re.compile(r"can(?:'|&#39;|&#x27;|\u2019)t scan this file for viruses|Virus scan warning", re.I),
        "its virus-scan warning page (files over 100 MB; the browser's 'Download anyway' button gets the file)",
    ),
    (
        re.compile(r"accounts\.google\.com|ServiceLogin|Sign in - Google Accounts", re.I),
        "a sign-in page (the file is not shared with anyone who has the link, or Drive wants an account)",
    ),
    (
        re.compile(r"You need access|Request access|Access denied", re.I),
        "an access-denied page (the file is not shared publicly)",
    ),
    (
        re.compile(r"folder contents|folder information|folder lists no|page structure may have changed", re.I),
        "a folder listing this library cannot read (the folder or Drive's page changed)",
    ),
]
#: A page rather than a checkpoint: what a browser or Drive sends as HTML.
_HTML = re.compile(rb"^\s*(<!doctype html|<html|<head|<\?xml)", re.I)


def answered(text: str) -> str | None:
    """What Drive answered, from a page's text or the downloader's error; None where it is not one of these."""
    return next((what for marker, what in ANSWERS if marker.search(text)), None)


def page_instead_of_file(path: Path) -> str | None:
    """Where a downloaded "checkpoint" is an HTML page: what the page says (or that it is an unknown page)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not _HTML.match(head):
        return None
    title = re.search(rb"<title>(.*?)</title>", head, re.I | re.S)
    name = title.group(1).decode(errors="replace").strip() if title else "untitled"
    return answered(head.decode(errors="replace")) or f"a web page ({name!r}) instead of the file"


def stalled(exc: BaseException) -> bool:
    """Whether a download failed because the server stopped answering (connect or read timeout)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (socket.timeout, TimeoutError)) or "timed out" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False
