"""``rdafnet download``: put an authors' release into the cache (downloaded, or a copy fetched by hand)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rdafnet.weights.authors import authors_names

    s = sub.add_parser("download", help="fetch an authors' release into the cache, or register a copy (--from)")
    s.add_argument("name", choices=authors_names(), help="an authors' release (see `rdafnet list`)")
    s.add_argument(
        "--from",
        dest="file",
        metavar="FILE",
        help="the authors' file you downloaded by hand (e.g. GoPro.pth): checked and cached, no network",
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
    from rdafnet.weights.authors import cache_status, download

    folder = download(a.name, a.file, force=a.force, trust_new_file=a.trust_new_file, mirror=a.mirror)
    status = cache_status(a.name)
    print(
        f"{a.name}: cached in {folder} (sha256 of the authors' file {status.get('file_sha256')}); "
        f"rdafnet.from_pretrained({a.name!r}) now loads it offline"
    )
    return 0
