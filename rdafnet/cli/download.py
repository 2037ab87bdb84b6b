"""``rdafnet download``: put an authors' release into the cache (downloaded, or a copy fetched by hand)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rdafnet.weights.authors import authors_names

    s = sub.add_parser("download", help="fetch an authors' release into the cache, or register a copy (--from)")
    s.add_argument(
        "name",
        nargs="?",
        choices=authors_names(),
        help="an authors' release (see `rdafnet list`); without it, --from registers every release it holds",
    )
    s.add_argument(
        "--from",
        dest="file",
        metavar="PATH",
        help="what you downloaded by hand: the checkpoint under any name (GoPro (1).pth), a folder holding it, "
        "or the zip/tar a browser gives for the Drive folder; checked and cached, no network",
    )
    s.add_argument("--force", action="store_true", help="download again even if cached (repairs a damaged entry)")
    s.add_argument(
        "--trust-new-file",
        action="store_true",
        help="accept a file whose sha256 differs from the one first used here under this name",
    )
    s.add_argument(
        "--mirror",
        metavar="URL",
        help="fetch URL/NAME/FILE instead of the authors' Google Drive folder (default: $RDAFNET_MIRROR)",
    )
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    from rdafnet.weights.authors import cache_status, download, register_all

    if a.name is None:
        if a.file is None:
            raise ValueError("name the release to download (see `rdafnet list`), or pass --from PATH to register")
        folders = register_all(a.file, trust_new_file=a.trust_new_file)
    else:
        folders = {a.name: download(a.name, a.file, force=a.force, trust_new_file=a.trust_new_file, mirror=a.mirror)}
    for name, folder in folders.items():
        print(
            f"{name}: cached in {folder} (sha256 of the authors' file {cache_status(name).get('file_sha256')}); "
            f"rdafnet.from_pretrained({name!r}) now loads it offline"
        )
    return 0
