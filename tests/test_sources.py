"""Every way the authors' files arrive registers: a checkpoint renamed by the browser, a folder holding it
among other files, the zip a browser gives for a Drive folder (one release or both), and archives that
try to write outside their folder or inflate without bound are refused with nothing cached."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile

import pytest
from test_authors import _authors_file, _leftovers, cache  # noqa: F401 - the autouse cache fixture

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.weights import authors

SINGLE, MULTI = "rdafnet-single-stage-gopro", "rdafnet-multi-stage-gopro"


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return _authors_file(tmp_path_factory.mktemp("single") / "GoPro.pth")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return _authors_file(tmp_path_factory.mktemp("multi") / "GoPro.pth", variant="multi-stage")


def _drive_zip(path, members):
    """A zip as Google Drive writes it for a folder download: deflated members under the folder's name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_renamed_copy_registers(tmp_path, single, cache):  # noqa: F811
    renamed = tmp_path / "GoPro (1).pth"
    renamed.write_bytes(single.read_bytes())
    assert cli(["download", SINGLE, "--from", str(renamed)]) == 0
    assert rdafnet.from_pretrained(SINGLE, local_files_only=True).pretrained["name"] == SINGLE


def test_a_folder_with_other_files_registers_the_one_that_fits(tmp_path, single, multi, capsys, cache):  # noqa: F811
    downloads = tmp_path / "Downloads"
    (downloads / "RDAFNet" / "single").mkdir(parents=True)
    (downloads / "RDAFNet" / "multi").mkdir(parents=True)
    (downloads / "RDAFNet" / "single" / "GoPro.pth").write_bytes(single.read_bytes())
    (downloads / "RDAFNet" / "multi" / "GoPro.pth").write_bytes(multi.read_bytes())
    (downloads / "notes.txt").write_text("not a checkpoint")
    (downloads / "junk.pth").write_bytes(b"\x80\x04not a checkpoint")
    assert cli(["download", MULTI, "--from", str(downloads)]) == 0
    assert authors.cache_status(MULTI)["cached"]
    origin = json.loads((authors.entry_dir(MULTI) / authors.SOURCE_NAME).read_text())["origin"]
    assert origin.endswith(os.path.join("multi", "GoPro.pth"))
    # two different checkpoints of one network: both named, the user picks one
    (downloads / "RDAFNet" / "single" / "GoPro_v2.pth").write_bytes(
        _authors_file(tmp_path / "b.pth", scale=0.5).read_bytes()
    )
    capsys.readouterr()
    assert cli(["download", SINGLE, "--from", str(downloads)]) == 2
    err = capsys.readouterr().err
    assert "2 different single-stage checkpoints" in err and "GoPro_v2.pth" in err and "--from" in err


def test_a_drive_zip_registers_both_releases_in_one_command(tmp_path, single, multi, capsys, cache):  # noqa: F811
    drive = _drive_zip(
        tmp_path / "drive-download-20261207T101500Z-001.zip",
        {
            "RDAFNet/single-stage/GoPro.pth": single.read_bytes(),
            "RDAFNet/multi-stage/GoPro.pth": multi.read_bytes(),
            "RDAFNet/readme.txt": b"from the authors' folder",
        },
    )
    assert cli(["download", "--from", str(drive)]) == 0
    out = capsys.readouterr().out
    assert f"{SINGLE}: cached" in out and f"{MULTI}: cached" in out
    for name in (SINGLE, MULTI):
        model = rdafnet.from_pretrained(name, local_files_only=True)
        assert model.variant == authors.registry.entry(name)["variant"]
    # nothing extracted beside the zip or left in the cache's scratch space
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([drive.name, "cache"])
    assert [n for n in _leftovers(tmp_path / "cache") if n.startswith(".")] == []
    # one name from the zip works too, and a tar of the folder
    tar = tmp_path / "drive.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(multi, arcname="RDAFNet/GoPro.pth")
    assert cli(["download", MULTI, "--from", str(tar), "--force"]) == 0


@pytest.mark.parametrize("entry", ["../GoPro.pth", "/etc/GoPro.pth", "RDAFNet/../../GoPro.pth"])
def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path, single, capsys, entry, cache):  # noqa: F811
    (tmp_path / "inner").mkdir()
    drive = _drive_zip(tmp_path / "inner" / "drive.zip", {entry: single.read_bytes()})
    assert cli(["download", SINGLE, "--from", str(drive)]) == 2
    err = capsys.readouterr().err
    assert "points outside its folder" in err and "Traceback" not in err
    assert not (tmp_path / "GoPro.pth").exists() and not authors.cache_status(SINGLE)["cached"]
    assert [n for n in _leftovers(tmp_path / "cache") if n.startswith(".")] == []


def test_a_zip_bomb_is_refused_before_anything_is_extracted(tmp_path, capsys, cache):  # noqa: F811
    bomb = tmp_path / "drive.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("RDAFNet/GoPro.pth", "w", force_zip64=True) as member:
            zero = bytes(1 << 20)
            for _ in range(300):  # 300 MiB of zeros: about 300 KiB in the archive
                member.write(zero)
    assert bomb.stat().st_size < 2 << 20
    before = os.statvfs(tmp_path).f_bfree
    assert cli(["download", SINGLE, "--from", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert "zip bomb" in err and "nothing was extracted" in err
    assert before - os.statvfs(tmp_path).f_bfree < (50 << 20) // os.statvfs(tmp_path).f_frsize
    assert not authors.cache_status(SINGLE)["cached"]


def test_what_holds_no_release_is_named(tmp_path, capsys, cache):  # noqa: F811
    drive = _drive_zip(tmp_path / "drive.zip", {"RDAFNet/notes.txt": b"x", "RDAFNet/other.pth": b"\x80\x04junk"})
    assert cli(["download", "--from", str(drive)]) == 2
    err = capsys.readouterr().err
    assert "holds none of the authors' releases" in err and "RDAFNet/other.pth): not an authors checkpoint" in err
    assert cli(["download", "--from", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli(["download"]) == 2
    assert "--from PATH" in capsys.readouterr().err


def test_the_torch_checkpoint_itself_is_not_taken_for_an_archive(single):
    # torch.save writes a zip: it is a checkpoint to read, not a folder to search
    assert zipfile.is_zipfile(single)
    from rdafnet.weights.sources import candidates

    (found,) = candidates(single, single.parent)
    assert found.path == single and found.variant() == "single-stage"
    assert io.BytesIO(single.read_bytes()).read(2) == b"PK"
