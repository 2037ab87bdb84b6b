"""The authors' released checkpoints as named models: fetched where the authors publish them (or
taken from a copy downloaded by hand), converted once into the cache, and checked on every load.

A cache entry is ``<cache>/models/<name>/`` (``config.json``, ``model.safetensors``, ``README.md``,
``source.json``); it appears in one rename, so an interrupted download or conversion leaves nothing.
The authors publish no checksums, so the sha256 of the file first registered under a name is kept in
``<cache>/models/known_sha256.json`` (trust on first use): a later file with another sha256 is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rdafnet.models.card import identity_metrics
from rdafnet.models.networks import RDAFNetBase
from rdafnet.models.registry import VARIANTS
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.cache import cache_dir, offline
from rdafnet.utils.checkpoint import CONFIG_NAME, WEIGHTS_NAME, IntegrityError, read_checkpoint, read_config, sha256
from rdafnet.utils.progress import progress_bar
from rdafnet.weights import drive, registry, sources
from rdafnet.weights.convert import from_official

__all__ = ["WeightsUnavailableError", "download", "register_all", "entry_dir", "cache_status", "authors_names"]
SOURCE_NAME = "source.json"
KNOWN_NAME = "known_sha256.json"
_DRIVE_FOLDER = "https://drive.google.com/drive/folders/{}"


class WeightsUnavailableError(ValueError):
    """An authors' model that is not cached and cannot be downloaded now; the message says how to
    get the file by hand and register it."""


def authors_names() -> list[str]:
    """Registered names of the authors' releases."""
    return [n for n, e in registry.models().items() if e["source"] == "authors"]


def _authors_entry(name: str) -> dict[str, Any]:
    entry = registry.entry(name)
    if entry["source"] != "authors":
        raise ValueError(
            f"{name!r} is a {entry['source']} model, not an authors' release: nothing to download "
            f"(authors' releases: {', '.join(authors_names())})"
        )
    return entry


def _models_dir() -> Path:
    return cache_dir() / "models"


def entry_dir(name: str) -> Path:
    """Where the cache entry of an authors' release lives (whether or not it exists)."""
    return _models_dir() / name


def _how_to_get(name: str, entry: dict[str, Any], reason: str) -> str:
    return (
        f"{name} (the authors' {entry['variant']} RDAFNet, {entry['license']} licence) is not in the cache "
        f"({entry_dir(name)}) and cannot be downloaded now: {reason}. To get it by hand, open "
        f"{_DRIVE_FOLDER.format(entry['drive_folder'])} in a browser and download {entry['file']} (linked from "
        f"{entry['homepage']}), then register it with `rdafnet download {name} --from {entry['file']}` (a "
        "renamed copy, the folder it is in, or the zip the browser gives for the whole Drive folder work too: "
        f"`rdafnet download --from drive-download-....zip`; or rdafnet.download({name!r}, file=...)); after that "
        f"from_pretrained({name!r}) loads it offline."
    )


def _repair_hint(name: str) -> str:
    return (
        f"repair it with `rdafnet download {name} --force` (or --from FILE with the authors' file), "
        f"or delete {entry_dir(name)}"
    )


def _known() -> dict[str, dict[str, str]]:
    path = _models_dir() / KNOWN_NAME
    repair = (
        "it records the sha256 of each authors' file first used here: fix it, or delete it (the next download "
        "or --from records the file it gets)"
    )
    try:
        table = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path} ({exc}); {repair}") from exc
    if not isinstance(table, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in table.values()
    ):
        raise ValueError(f"{path} is damaged (not a name -> {{sha256, origin, first_seen}} table); {repair}")
    return table


def cache_status(name: str) -> dict[str, Any]:
    """Whether an authors' release is cached here, where, and the sha256 of its authors' file."""
    _authors_entry(name)
    src = entry_dir(name) / SOURCE_NAME
    info: dict[str, Any] = {"cached": src.exists(), "cache_path": str(entry_dir(name))}
    known = _known().get(name)
    if known:
        info["file_sha256"] = known["sha256"]
    return info


def check_model(name: str, model: RDAFNetBase) -> None:
    """A model loaded for ``name`` must be the registered network: same variant, hyperparameters and
    parameter count (the keys were checked strictly when it was loaded)."""
    entry = registry.entry(name)
    want = VARIANTS[entry["variant"]].hyperparameters()
    got = {k: model.config.get(k) for k in want}
    want = {k: (list(v) if isinstance(v, tuple) else v) for k, v in want.items()}
    params = sum(p.numel() for p in model.parameters())
    if got != want or params != entry["params"]:
        diff = ", ".join(f"{k}={got[k]!r} (expected {want[k]!r})" for k in want if got[k] != want[k])
        raise IntegrityError(
            f"the weights for {name} hold a {model.variant or model.config['architecture']} network "
            f"({params:,} parameters; {diff or 'same hyperparameters'}), not the authors' "
            f"{entry['variant']} ({entry['params']:,} parameters)"
        )


def cached_files(name: str) -> dict[str, str]:
    """The sha256 of each file of a complete cache entry (from its ``source.json``), or a damaged-entry
    error that says how to repair it."""
    folder = entry_dir(name)
    missing = [n for n in (SOURCE_NAME, CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).exists()]
    if missing:
        raise IntegrityError(
            f"the cached copy of {name} in {folder} is damaged (missing {', '.join(missing)}); " + _repair_hint(name)
        )
    try:
        files = read_config(folder / SOURCE_NAME)["files"]
    except (ValueError, KeyError) as exc:
        raise IntegrityError(f"the cached copy of {name} in {folder} is damaged ({exc}); {_repair_hint(name)}") from exc
    return files


def prepare(name: str, *, local_files_only: bool = False, force: bool = False) -> tuple[Path, dict[str, str], str]:
    """The cache entry of an authors' release, downloading it first where it is missing:
    ``(folder, sha256 of each file, how to repair it)`` for :func:`rdafnet.from_pretrained`."""
    if force or not (entry_dir(name) / SOURCE_NAME).exists():
        download(name, force=force, local_files_only=local_files_only)
    return entry_dir(name), cached_files(name), _repair_hint(name)


def download(
    name: str,
    file: str | os.PathLike | None = None,
    *,
    force: bool = False,
    trust_new_file: bool = False,
    mirror: str | None = None,
    local_files_only: bool = False,
) -> Path:
    """Put an authors' release into the cache and return its folder (``from_pretrained(name)`` then
    loads it offline).

    Without ``file`` it is downloaded (``pip install "rdafnet[download]"``) from the authors' Google
    Drive folder, or from ``mirror`` / ``$RDAFNET_MIRROR`` (``{mirror}/{name}/GoPro.pth``), unless it
    is cached already (``force=True`` fetches it again). ``file`` registers a copy downloaded by hand.
    Either way the file is read safely, converted, and checked (layout, network, parameter count, and the
    sha256 first seen for this name unless ``trust_new_file=True``) before anything is cached.
    """
    entry = _authors_entry(name)
    if file is None and not force and (entry_dir(name) / SOURCE_NAME).exists():
        cached_files(name)
        return entry_dir(name)
    _models_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=_models_dir()))  # removed whatever happens
    try:
        if file is not None:
            path, origin = _from_source(Path(file).expanduser(), entry, work)
        else:
            if local_files_only or offline():
                raise WeightsUnavailableError(
                    _how_to_get(name, entry, "offline mode is on (HF_HUB_OFFLINE=1 or local_files_only=True)")
                )
            path = work / entry["file"]
            origin = _fetch(name, entry, path, mirror or os.environ.get("RDAFNET_MIRROR"))
        return _register(name, entry, path, origin, work, trust_new_file=trust_new_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _from_source(source: Path, entry: dict[str, Any], work: Path) -> tuple[Path, str]:
    """The checkpoint of ``entry``'s network in what the user downloaded: the file itself (any name), or the
    one that fits among a folder's files or an archive's members (:mod:`rdafnet.weights.sources`)."""
    found = sources.candidates(source, work)
    if found and found[0].path == source:  # a single file: read as it is, its faults named when registered
        return source, found[0].origin
    variants = {c.origin: c.variant() for c in found}
    chosen = sources.pick(found, variants, entry["variant"], source)
    return chosen.path, chosen.origin


def register_all(source: str | os.PathLike, *, trust_new_file: bool = False) -> dict[str, Path]:
    """Register every authors' release that ``source`` (a folder, or the zip or tar of a Drive folder)
    holds, each under the names of its network; returns name -> cache folder."""
    source = Path(source).expanduser()
    _models_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".register.", dir=_models_dir()))
    try:
        found = sources.candidates(source, work)
        variants = {c.origin: c.variant() for c in found}
        done = {}
        for name in authors_names():
            entry = _authors_entry(name)
            if any(v == entry["variant"] for v in variants.values()):
                chosen = sources.pick(found, variants, entry["variant"], source)
                (work / name).mkdir()
                done[name] = _register(
                    name, entry, chosen.path, chosen.origin, work / name, trust_new_file=trust_new_file
                )
        if not done:
            raise ValueError(
                f"{source} holds none of the authors' releases ({', '.join(authors_names())}); it holds: "
                f"{sources.describe(found, variants)}"
            )
        return done
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: Seconds a registration waits for another one in the same cache; a network read waits for data.
_REGISTER_WAIT = 600
NETWORK_TIMEOUT = 60


def _fetch(name: str, entry: dict[str, Any], dest: Path, mirror: str | None) -> str:
    """Download the authors' file to ``dest`` (with a progress bar) and return where it came from; a
    server that stops sending for ``NETWORK_TIMEOUT`` seconds ends the download with an error."""
    try:
        import gdown
    except ImportError:
        raise WeightsUnavailableError(
            _how_to_get(name, entry, 'the optional downloader is not installed (pip install "rdafnet[download]")')
        ) from None
    url = f"{mirror.rstrip('/')}/{name}/{entry['file']}" if mirror else _DRIVE_FOLDER.format(entry["drive_folder"])
    # a timeout for every request: gdown's sessions otherwise wait for ever on a server that stops answering
    timeout = NETWORK_TIMEOUT
    # our own bar: gdown's quiet=False prints the temporary path it writes to
    bar = progress_bar(total=None, unit="B", unit_scale=True, desc=f"{entry['file']} for {name}")

    def progress(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT)
    try:
        if mirror:
            gdown.download(url=url, output=str(dest), quiet=True, progress=progress, timeout=timeout)
        else:
            listing = (
                gdown.download_folder(id=entry["drive_folder"], skip_download=True, quiet=True, timeout=timeout) or []
            )
            files = [f for f in listing if not isinstance(f, str)]
            found = [f for f in files if Path(f.path).name == entry["file"]]
            if not found:
                raise FileNotFoundError(
                    f"the folder lists no {entry['file']} "
                    f"(it holds: {', '.join(Path(f.path).name for f in files) or 'nothing'})"
                )
            gdown.download(id=found[0].id, output=str(dest), quiet=True, progress=progress, timeout=timeout)
            url = f"https://drive.google.com/file/d/{found[0].id}"
        if not dest.is_file() or dest.stat().st_size == 0:
            raise OSError("the downloader returned no file")
        page = drive.page_instead_of_file(dest)
        if page:
            raise WeightsUnavailableError(_how_to_get(name, entry, f"{url} answered with {page}"))
    except WeightsUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - any network or server fault: one paragraph that says what to do
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        what = (
            f"the server stopped answering for {NETWORK_TIMEOUT} s"
            if drive.stalled(exc)
            else drive.answered(str(exc)) or f"{type(exc).__name__}: {detail}"
        )
        raise WeightsUnavailableError(_how_to_get(name, entry, f"downloading {url} failed ({what})")) from exc
    finally:
        socket.setdefaulttimeout(previous)
        bar.close()
    return url


def _register(name: str, entry: dict[str, Any], path: Path, origin: str, work: Path, *, trust_new_file: bool) -> Path:
    """Check, convert and cache ``path`` for ``name``; registrations wait for each other (a file lock in the
    cache), so the cached model and the recorded sha256 always come from the same file."""
    lock = FileLock(cache_dir() / "locks" / "register.lock", timeout=_REGISTER_WAIT, mode=0o600)
    try:
        (cache_dir() / "locks").mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ValueError(
            f"another registration in {cache_dir()} has run for {_REGISTER_WAIT} s; let it finish, then run again"
        ) from None
    except OSError as exc:  # a link or a file planted there: never followed
        raise ValueError(
            f"cannot take {lock.lock_file} ({exc.strerror or exc}); delete it (it holds nothing) and run again"
        ) from None
    try:
        return _register_locked(name, entry, path, origin, work, trust_new_file=trust_new_file)
    finally:
        lock.release()


def _register_locked(
    name: str, entry: dict[str, Any], path: Path, origin: str, work: Path, *, trust_new_file: bool
) -> Path:
    digest = sha256(path)
    pinned, known = entry.get("sha256"), _known().get(name)
    if pinned and digest != pinned:
        raise IntegrityError(
            f"{origin} has sha256 {digest}, but {name} is registered with {pinned}: the file is "
            "damaged or is not the authors' release; nothing was cached"
        )
    if known and digest != known["sha256"] and not trust_new_file:
        raise IntegrityError(
            f"{origin} has sha256 {digest}, but the {entry['file']} first used here for {name} "
            f"({known['origin']}, {known['first_seen']}) had {known['sha256']}: the file changed since first use, "
            "or this copy is damaged or not the authors'. Nothing was cached. If you trust the new file, pass "
            "--trust-new-file (trust_new_file=True)"
        )
    try:
        model = from_official(read_checkpoint(path), source=origin)
    except ValueError as exc:
        raise ValueError(
            f"{origin} is not a usable authors' {entry['file']} for {name} ({exc}); nothing was "
            "cached: download it again"
        ) from exc
    check_model(name, model)
    staged = work / "entry"
    model.save_pretrained(staged, model_card_kwargs=_card(name, entry, origin, digest))
    files = {n: sha256(staged / n) for n in (CONFIG_NAME, WEIGHTS_NAME)}
    record = {
        "name": name,
        "file": entry["file"],
        "file_sha256": digest,
        "origin": origin,
        "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }
    (staged / SOURCE_NAME).write_text(json.dumps(record, indent=2))
    final = entry_dir(name)
    if final.exists():  # swap in one rename; the old entry goes only afterwards
        old = work / "old"
        os.replace(final, old)
    os.replace(staged, final)
    table = _known()
    if trust_new_file or name not in table:
        table[name] = {"sha256": digest, "origin": origin, "first_seen": record["converted"]}
        atomic_write(_models_dir() / KNOWN_NAME, lambda tmp: Path(tmp).write_text(json.dumps(table, indent=2)))
    return final


def _card(name: str, entry: dict[str, Any], origin: str, digest: str) -> dict[str, Any]:
    paper = entry["paper"]
    metrics = identity_metrics({"paper": paper})
    rows = "\n".join(f"| {ds} | {s['psnr']:.2f} | {s['ssim']:.3f} |" for ds, s in paper.items())
    body = (
        f"The authors' released `{entry['file']}` ({entry['homepage']}, {entry['license']} licence), "
        f"converted unchanged into this library's layout.\n\n- source: {origin}\n- sha256 of the authors' file: "
        f"`{digest}`\n- trained on: {entry['trained_on']}\n\nFigures reported in the paper (full 720x1280 "
        "frames, PSNR/SSIM by MATLAB), not measured here:\n\n| test set | PSNR (dB) | SSIM |\n| --- | --- | --- |\n"
        f"{rows}\n"
    )
    return {"title": name, "body": body, "source": name, "metrics": metrics, "datasets": ["GoPro"]}
