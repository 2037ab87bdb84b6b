"""Every subcommand, a bad value for each of its options: a refusal (exit code 2) with an error message,
never a traceback, and nothing written."""

import pytest
import torch

from rdafnet.cli import main
from rdafnet.cli import parser as cli_parser

NO_CUDA = not torch.cuda.is_available()
BAD = {
    "deblur": [
        ["--tile", "7"],
        ["--tile", "x"],
        ["--overlap", "-1"],
        ["--batch-size", "0"],
        ["--max-memory", "0"],
        ["--max-memory", "inf"],
        ["--max-memory", "nan"],
        ["--max-pixels", "0"],
        ["--norm-window", "1"],
        ["--device", "cdua"],
        ["--precision", "fp64"],
        ["--precision", "bf16", "--calibration", "frame.png"],
        ["--format", "gif"],
        ["--crf", "99"],
        ["--fps", "0"],
        ["--fps", "nan"],
        ["--segment-frames", "0"],
        ["--tile", "256", "--overlap", "256"],
        ["--overlap", "8"],
        ["--model", "no-such-model"],
        ["--preset", "medium", "--codec"],
        ["--preset", "mediumm"],
        ["-o", "x.gif"],
    ],
    "eval": [
        ["--device", "cdua"],
        ["--sheet-crop", "8"],
        ["--sheet-max", "0"],
        ["--max-pixels", "1.5"],
        ["--sheet", "s.gif"],
        ["--restored", "DIR"],
        ["--model", "no-such-model"],
        ["--device", "cuda:7"],
        ["--split", "val"],
        ["--blur-folder", "sharp"],
    ],
    "train": [
        ["--steps", "0"],
        ["--batch-size", "0"],
        ["--ema", "1"],
        ["--ema", "-0.5"],
        ["--ckpt-every", "0"],
        ["--val-every", "0"],
        ["--crop", "8"],
        ["--lr", "0"],
        ["--grad-clip", "-1"],
        ["--threads", "0"],
        ["--workers", "-1"],
        ["--width", "0"],
        ["--blocks", "0"],
        ["--device", "cdua"],
        ["--variant", "nope"],
        ["--max-minutes", "-1"],
        ["--ckpt-minutes", "0"],
        ["--steps", "two"],
        ["--seed", "1.5"],
    ],
    "make-pairs": [
        ["--n-min", "0"],
        ["--per-image", "0"],
        ["--max-length", "2"],
        ["--noise-p", "2"],
        ["--jpeg-p", "-1"],
        ["--max-speed", "0"],
        ["--motion", "wobble"],
        ["--max-side", "8"],
        ["--n-min", "9", "--n-max", "7"],
        ["--motion", "camera", "--noise-p", "0.5"],
        ["--seed", "x"],
    ],
    "convert": [["MISSING"]],
    "download": [["no-such-release"], ["rdafnet-single-stage-gopro", "--from", "MISSING"], ["rdafnet-tiny-gopro-v4"]],
    "export-onnx": [["--opset", "12"], ["--opset", "x"], ["no-such-model"]],
    "info": [["no-such-model"]],
}
if NO_CUDA:
    BAD["eval"].append(["--device", "cuda"])
    BAD["train"].append(["--device", "cuda"])


def _base(command, tmp_path):
    img = tmp_path / "in.png"
    if not img.exists():
        from PIL import Image

        Image.new("RGB", (8, 8)).save(img)
        (tmp_path / "pairs" / "blur").mkdir(parents=True)
        (tmp_path / "pairs" / "sharp").mkdir(parents=True)
    return {
        "deblur": [str(img), "-o", str(tmp_path / "out")],
        "eval": ["--no-reference", str(img), "--csv", str(tmp_path / "out" / "t.csv")],
        "train": ["--data", str(tmp_path / "pairs"), "-o", str(tmp_path / "out")],
        "make-pairs": ["--sharp", str(tmp_path / "pairs"), "-o", str(tmp_path / "out")],
        "convert": [str(tmp_path / "out")],
        "download": [],
        "export-onnx": [str(tmp_path / "out" / "m.onnx")],
        "info": [],
    }[command]


def _refuse(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    err = capsys.readouterr().err
    return rc, err


def test_every_command_and_checked_option_is_covered():
    sub = next(a for a in cli_parser()._actions if a.dest == "command")
    assert set(sub.choices) - {"list"} <= set(BAD)
    for name, command in sub.choices.items():
        used = {t for bads in BAD.get(name, []) for t in bads if t.startswith("-")}
        unchecked = [
            a.option_strings[-1]
            for a in command._actions
            if a.option_strings and (a.type is not None or a.choices) and not set(a.option_strings) & used
        ]
        assert unchecked == [], f"rdafnet {name}: no bad value tried for {unchecked}"


@pytest.mark.parametrize(
    "command, bad",
    [(c, b) for c, bads in BAD.items() for b in bads],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_bad_values_are_refused_in_one_line(tmp_path, capsys, command, bad):
    bad = [str(tmp_path / "missing.pth") if b == "MISSING" else str(tmp_path) if b == "DIR" else b for b in bad]
    base = _base(command, tmp_path)
    if command in ("convert", "download", "info"):
        argv = [command, *bad, *base] if command != "convert" else [command, *bad, *base]
    elif command == "export-onnx" and not bad[0].startswith("-"):
        argv = [command, *bad, *base]
    else:
        argv = [command, *base, *bad]
    if command == "eval" and bad[0] == "--restored":
        argv = ["eval", "--data", str(tmp_path / "pairs"), *bad]
    rc, err = _refuse(argv, capsys)
    assert rc == 2, (argv, rc, err)
    assert "Traceback" not in err and "error" in err.lower(), err
    assert not (tmp_path / "out").exists()


def test_a_second_run_on_the_same_output_is_refused_with_the_first_ones_pid(tmp_path, capsys):
    import os

    from rdafnet.utils.lock import exclusive

    img = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(img)
    with exclusive(tmp_path / "out", "a test holding the folder"):
        rc, err = _refuse(["deblur", str(img), "-o", str(tmp_path / "out"), "--precision", "fp32"], capsys)
        assert rc == 2 and f"is in use by another rdafnet run (PID {os.getpid()}, a test holding the folder" in err
        assert not (tmp_path / "out" / "in.png").exists()
        rc, err = _refuse(["eval", "--no-reference", str(img), "--out", str(tmp_path / "out")], capsys)
        assert rc == 2 and "in use by another rdafnet run" in err
    assert main(["deblur", str(img), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0  # released
    assert (tmp_path / "out" / "in.png").exists() and not list((tmp_path / "out").glob(".*lock*"))


def test_two_trainings_on_one_folder_do_not_share_it(tmp_path):
    from test_training import _pairs_folder, _train_cmd

    from rdafnet.utils.lock import OutputInUseError, exclusive

    _pairs_folder(tmp_path / "pairs", n=2)
    with exclusive(tmp_path / "run", "the first training"):
        with pytest.raises(OutputInUseError, match="the first training"):
            import rdafnet
            from rdafnet.data import PairedImages, find_pairs
            from rdafnet.train import TrainConfig, Trainer

            Trainer(
                rdafnet.build("tiny", width=8, num_blocks=1),
                PairedImages(find_pairs(tmp_path / "pairs"), crop=32),
                tmp_path / "run",
                TrainConfig(steps=1, batch_size=1),
            ).fit(progress=False)
    assert main(_train_cmd(tmp_path, "run", steps=1)[3:]) == 0


def test_image_outputs_name_a_folder_and_links_to_nothing_are_named(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    rc, err = _refuse(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "x.gif")], capsys)
    assert rc == 2 and "looks like an image file" in err and not (tmp_path / "x.gif").exists()
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "in" / "out"), "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "gone.png is a link to a missing file" in err
    # a recursive glob that now also matches the earlier results restores the inputs only
    assert (
        main(
            [
                "deblur",
                str(tmp_path / "in" / "**" / "*.png"),
                "-o",
                str(tmp_path / "in" / "out"),
                "--precision",
                "fp32",
                "--overwrite",
            ]
        )
        == 0
    )
    assert "skipping 1 input(s) inside the output folder" in capsys.readouterr().err


def test_a_video_into_an_image_file_name_is_refused(tmp_path, capsys):
    pytest.importorskip("av")
    from helpers import make_clip

    clip = make_clip(tmp_path / "clip.mp4", n=2, audio=False)
    rc, err = _refuse(["deblur", str(clip), "-o", str(tmp_path / "x.png")], capsys)
    assert rc == 2 and "looks like an image file" in err and "a video file" in err
    assert not (tmp_path / "x.png").exists()  # it used to become a folder holding clip.mp4


def test_eval_out_that_is_a_file_is_refused_and_info_describes_an_architecture(tmp_path, capsys):
    (tmp_path / "pairs" / "blur").mkdir(parents=True)
    (tmp_path / "pairs" / "sharp").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    rc, err = _refuse(["eval", "--data", str(tmp_path / "pairs"), "--out", str(tmp_path / "notes.txt")], capsys)
    assert rc == 2 and "is a file; --out names the folder" in err and (tmp_path / "notes.txt").read_text() == "mine"
    assert main(["info", "tiny"]) == 0  # an architecture name: described, not "not registered"
    out = capsys.readouterr().out
    assert "an architecture, not a pretrained model" in out and "rdafnet.build('tiny')" in out and "M params" in out


def test_export_onnx_to_another_suffix_is_refused(tmp_path, capsys):
    rc, err = _refuse(["export-onnx", str(tmp_path / "model.txt")], capsys)
    assert rc == 2 and "the .onnx suffix" in err and not (tmp_path / "model.txt").exists()
