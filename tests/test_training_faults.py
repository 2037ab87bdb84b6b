"""Faults that must not lose training work: a damaged checkpoint or one of another network is named with
how to start over (--restart keeps the old files), unusable validation data is refused before the first
step, and an evaluation error names its pair."""

import numpy as np
import pytest
import torch
from test_training import _pairs_folder, _train_cmd

import rdafnet
from rdafnet.cli import main
from rdafnet.io.image import write_image


def _args(tmp_path, steps=2, **over):
    args = _train_cmd(tmp_path, "run", steps=steps)[3:]
    for k, v in over.items():
        args[args.index(f"--{k}") + 1] = str(v)
    return args


@pytest.fixture
def pairs(tmp_path):
    return _pairs_folder(tmp_path / "pairs", n=2)


def test_a_truncated_checkpoint_is_named_and_restart_keeps_it(tmp_path, pairs, capsys):
    assert main(_args(tmp_path)) == 0
    capsys.readouterr()
    ckpt = tmp_path / "run" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    assert main(_args(tmp_path, steps=4)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(ckpt) in err[0] and "--restart" in err[0] and "Traceback" not in err[0]
    assert ckpt.read_bytes() == data[: len(data) // 2]  # nothing changed by the refusal
    assert main([*_args(tmp_path, steps=4), "--restart"]) == 0
    kept = list((tmp_path / "run").glob("previous-*"))
    assert len(kept) == 1 and (kept[0] / "checkpoint.pt").read_bytes() == data[: len(data) // 2]
    assert (kept[0] / "config.json").exists()
    assert torch.load(ckpt, weights_only=True)["step"] == 4


def test_a_checkpoint_of_another_network_names_the_difference(tmp_path, pairs, capsys):
    assert main(_args(tmp_path)) == 0
    assert main(_args(tmp_path, steps=4, width=12)) == 2
    err = capsys.readouterr().err
    assert "holds another network than this run's (width: checkpoint 8, this run 12)" in err and "--restart" in err


def test_grayscale_validation_pairs_are_refused_before_the_first_step(tmp_path, pairs, capsys):
    gray = tmp_path / "gray"
    for sub in ("blur", "sharp"):
        write_image(gray / sub / "g.png", np.zeros((40, 40), np.uint8))
    assert main([*_args(tmp_path), "--val", str(gray)]) == 2
    err = capsys.readouterr().err
    assert "validation pair" in err and "grayscale" in err and "g.png" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_an_evaluation_error_names_its_pair(tmp_path):
    write_image(tmp_path / "p" / "blur" / "a.png", np.zeros((16, 16, 3), np.uint8))
    write_image(tmp_path / "p" / "sharp" / "a.png", np.zeros((16, 20, 3), np.uint8))
    from rdafnet.data import find_pairs
    from rdafnet.evaluation.evaluate import evaluate

    with pytest.raises(ValueError, match=r"pair .*blur/a.png / .*sharp/a.png: the images differ"):
        evaluate(rdafnet.build("tiny"), find_pairs(tmp_path / "p"))


def test_pairs_smaller_than_the_crop_are_refused_before_the_first_step(tmp_path, pairs, capsys):
    assert main(_args(tmp_path, crop=64)) == 2  # the pairs are 48x48
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is smaller than crop=64" in err and "--crop" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "log.csv").exists()


def test_an_output_that_is_a_file_is_refused(tmp_path, pairs, capsys):
    (tmp_path / "run").write_text("notes")
    assert main(_args(tmp_path)) == 2
    assert "is a file; the output (-o) is the run's folder" in capsys.readouterr().err
    assert (tmp_path / "run").read_text() == "notes"


def test_a_run_already_past_its_steps_says_so(tmp_path, pairs, capsys):
    assert main(_args(tmp_path, steps=2)) == 0
    before = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"]
    capsys.readouterr()
    assert main(_args(tmp_path, steps=1)) == 0
    err = capsys.readouterr().err
    assert "already at step 2, at or past steps=1: nothing to train" in err and "--restart" in err
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == before
