"""A resumed ``train`` compares every setting that changes the result with the checkpoint's: a different
learning rate, batch size, crop or data is refused with the difference named, or, with --accept-changes,
goes on and is recorded in the run's config.json; more --steps or other logging settings go on as before."""

import json

import pytest
from test_training import _pairs_folder, _train_cmd

from rdafnet.cli import main


def _args(tmp_path, *extra, steps=2):
    return [*_train_cmd(tmp_path, "run", steps=steps)[3:], *extra]


@pytest.fixture
def run(tmp_path):
    _pairs_folder(tmp_path / "pairs", n=2)
    assert main(_args(tmp_path)) == 0
    return tmp_path


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--lr", "5e-4"], "lr: checkpoint 0.001, this run 0.0005"),
        (["--batch-size", "1"], "batch_size: checkpoint 2, this run 1"),
        (["--crop", "16"], "crop: checkpoint 32, this run 16"),
        (["--seed", "3"], "seed: checkpoint 0, this run 3"),
    ],
)
def test_other_settings_are_refused_with_the_difference_named(run, capsys, change, named):
    before = (run / "run" / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main([*_args(run, steps=4), *change]) == 2
    err = capsys.readouterr().err
    assert named in err and "--accept-changes" in err and "--restart" in err
    assert (run / "run" / "checkpoint.pt").read_bytes() == before  # nothing changed


def test_other_data_is_refused(run, capsys):
    _pairs_folder(run / "other", n=3)
    args = _args(run, steps=4)
    args[args.index("--data") + 1] = str(run / "other")
    assert main(args) == 2
    assert "data: checkpoint {'pairs': 2" in capsys.readouterr().err


def test_accepted_changes_go_on_and_are_recorded(run):
    assert main([*_args(run, "--lr", "5e-4", "--accept-changes", steps=4)]) == 0
    config = json.loads((run / "run" / "config.json").read_text())
    (record,) = config["resumed_with_changes"]
    assert record["step"] == 2 and record["changes"] == ["lr: checkpoint 0.001, this run 0.0005"]
    # the checkpoint now carries the new settings: the same command goes on without the flag
    assert main([*_args(run, "--lr", "5e-4", steps=6)]) == 0


def test_more_steps_and_other_logging_go_on(run):
    assert main([*_args(run, "--ckpt-every", "3", steps=4)]) == 0
    assert "resumed_with_changes" not in json.loads((run / "run" / "config.json").read_text())
