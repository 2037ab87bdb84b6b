"""Output locks (rdafnet.utils.lock): portable (filelock), never written through a planted link, and a cache
that cannot hold them degrades to one warning instead of stopping the run."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os

import pytest

from rdafnet.utils.lock import OutputInUseError, exclusive


def _paths(cache, target):
    name = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:24]
    return cache / "locks" / f"{name}.lock", cache / "locks" / f"{name}.owner"


def _hold_and_report(cache, target, ready, done):
    os.environ["RDAFNET_CACHE"] = str(cache)
    with exclusive(target, "a child process"):
        ready.set()
        done.wait(30)


def test_a_lock_held_by_another_process_refuses_with_its_pid_and_is_freed_when_it_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path / "cache"))
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_and_report, args=(tmp_path / "cache", tmp_path / "out", ready, done))
    child.start()
    try:
        assert ready.wait(60)
        with pytest.raises(OutputInUseError, match=rf"PID {child.pid}, a child process"):
            with exclusive(tmp_path / "out", "this test"):
                pass
    finally:
        done.set()
        child.join(30)
    with exclusive(tmp_path / "out", "this test"):  # released when the holder ended
        pass


def test_planted_links_in_the_lock_folder_never_write_through(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("RDAFNET_CACHE", str(cache))
    with exclusive(tmp_path / "out", "first run"):
        pass
    lock, owner = _paths(cache, tmp_path / "out")
    victims = []
    for planted in (lock, owner):
        victim = tmp_path / f"victim-{planted.suffix[1:]}.txt"
        victim.write_text("the user's file")
        planted.unlink(missing_ok=True)
        planted.symlink_to(victim)
        victims.append(victim)
    try:
        with pytest.warns(RuntimeWarning, match="no lock on"), exclusive(tmp_path / "out", "second run"):
            pass  # the planted lock is not followed: the run goes on without one and says so
    except OSError:  # refusing to follow the planted lock link is fine too
        pass
    assert [v.read_text() for v in victims] == ["the user's file"] * 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_gives_one_warning_and_the_run_goes_on(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    monkeypatch.setenv("RDAFNET_CACHE", str(cache))
    try:
        with pytest.warns(RuntimeWarning, match="no lock on .*RDAFNET_CACHE"):
            with exclusive(tmp_path / "out", "run"):
                ran = True
    finally:
        cache.chmod(0o700)
    assert ran


def test_a_cache_that_is_a_file_gives_one_warning_and_the_run_goes_on(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path / "cache"))
    with pytest.warns(RuntimeWarning, match="no lock on .*cannot hold one"):
        with exclusive(tmp_path / "out", "run"):
            ran = True
    assert ran
