"""Frames numbered without zero padding (1, 2, ... 12) are read in the order of their numbers, by
make-pairs and by a frame folder played as a video; too few frames for one pair is said, not a silent 0."""

import numpy as np
import pytest

from rdafnet.cli import main as cli
from rdafnet.data.make import pairs_from_frames
from rdafnet.data.synth import gopro_pair
from rdafnet.io.image import read_image, write_image
from rdafnet.io.video import open_source


def _frames(folder, n=12):
    """Frame k is a flat image of value 10*k: any order shows in the averages."""
    for k in range(1, n + 1):
        write_image(folder / f"{k}.png", np.full((8, 8, 3), 10 * k, np.uint8))
    return folder


def test_make_pairs_takes_frames_in_the_order_of_their_numbers(tmp_path):
    frames = _frames(tmp_path / "frames")
    ((name, blur, sharp),) = list(pairs_from_frames(frames, n_min=12, n_max=12))
    assert name == "frames_st_frame-0_n_avg-12"
    assert sharp[0, 0, 0] == 10 * 7  # the middle frame of 1..12 by number (by name it would be "3")
    first_three = list(pairs_from_frames(frames, n_min=3, n_max=3))[0][1]
    want = gopro_pair([read_image(frames / f"{k}.png") for k in (1, 2, 3)])[0]  # by name: 1, 10, 11
    np.testing.assert_array_equal(first_three, want)
    windows = list(pairs_from_frames(frames, n_min=3, n_max=3))
    assert [w[2][0, 0, 0] for w in windows] == [20, 50, 80, 110]  # frames 2, 5, 8, 11


def test_a_frame_folder_plays_in_the_order_of_its_numbers(tmp_path):
    source = open_source(_frames(tmp_path / "frames"), fps=12)
    assert [int(img[0, 0, 0]) for _, img in source.frames()] == [10 * k for k in range(1, 13)]


def test_too_few_frames_for_a_pair_is_said(tmp_path, capsys):
    frames = _frames(tmp_path / "frames", n=4)
    assert cli(["make-pairs", "--frames", str(frames), "--n-min", "7", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "holds 4 frame(s), fewer than the 7 one pair averages" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="smaller --n-min"):
        pairs_from_frames(frames, n_min=5, n_max=9)
    assert read_image(frames / "4.png")[0, 0, 0] == 40
