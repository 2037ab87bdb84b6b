"""Misuse of the public API raises TypeError/ValueError naming the argument and what to pass."""

import numpy as np
import pytest
import torch

import rdafnet
from rdafnet.train import TrainConfig


def test_a_name_where_a_model_goes():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module .*rdafnet.from_pretrained"):
        rdafnet.deblur(torch.rand(3, 8, 8), "rdafnet-tiny-gopro-v4")
    with pytest.raises(TypeError, match="optimize takes a torch.nn.Module"):
        rdafnet.optimize("rdafnet-tiny-gopro-v4")


def test_optimized_models_are_not_optimized_again_nor_trained():
    fast = rdafnet.optimize(rdafnet.build("tiny"), precision="bf16")
    with pytest.raises(ValueError, match="already optimized .* pass the original model"):
        rdafnet.optimize(fast, precision="fp32")  # it used to stay bf16, silently
    with pytest.raises(RuntimeError, match="for inference only: train the original"):
        fast.train()
    assert not fast.eval().training  # eval() (train(False)) is fine


@pytest.mark.parametrize(
    "make",
    [
        lambda: rdafnet.RDAFB(0),
        lambda: rdafnet.RDAFB(-3),
        lambda: rdafnet.build("tiny", width=0),
        lambda: rdafnet.build("tiny", width=2.5),
    ],
)
def test_zero_or_non_integer_sizes_are_refused(make):
    with pytest.raises(ValueError, match="must be an integer (>= 1|from 1 to)"):
        make()


@pytest.mark.parametrize(
    "bad",
    [
        dict(steps=0),
        dict(batch_size=0),
        dict(ema=1.0),
        dict(ema=-0.1),
        dict(lr=0),
        dict(ckpt_every=0),
        dict(val_every=0),
        dict(num_workers=-1),
        dict(grad_clip=0),
        dict(betas=(0.9, 1.0)),
        dict(max_minutes=0),
        dict(steps=2.5),
    ],
)
def test_train_config_checks_every_value(bad):
    ((name, value),) = bad.items()
    with pytest.raises(ValueError, match=f"{name}="):
        TrainConfig(**bad)


def test_export_refuses_an_opset_it_would_not_write(tmp_path):
    pytest.importorskip("onnxscript")
    with pytest.raises(ValueError, match="opset must be an integer from 18"):
        rdafnet.export_onnx(rdafnet.build("tiny"), tmp_path / "m.onnx", opset=12)  # it wrote opset 18 instead
    assert not (tmp_path / "m.onnx").exists()


def test_devices_that_do_not_exist_are_named():
    from rdafnet.utils.device import resolve_device

    with pytest.raises(ValueError, match="'cdua' is not a device"):
        resolve_device("cdua")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available"):
            resolve_device("cuda:1")


def test_a_path_named_like_a_registered_model_says_so(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="pass it as a string, from_pretrained\\('rdafnet-tiny-gopro-v4'\\)"):
        rdafnet.from_pretrained(Path("rdafnet-tiny-gopro-v4"))


def test_videos_without_frames_are_described(tmp_path):
    av = pytest.importorskip("av")
    import numpy as np

    from rdafnet.io.video import probe

    audio = tmp_path / "voice.m4a"
    with av.open(str(audio), "w") as out:
        a = out.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        out.mux(a.encode(frame))
        out.mux(a.encode())
    with pytest.raises(ValueError, match=r"holds no video stream, only audio \(aac\)"):
        probe(audio)
    from helpers import make_clip

    clip = make_clip(tmp_path / "clip.mp4", n=4, audio=False)
    data = clip.read_bytes()
    at = data.find(b"moov")
    assert at > 0
    (tmp_path / "cut.mp4").write_bytes(data[: at - 4] if at > data.find(b"mdat") else data.replace(b"moov", b"free"))
    with pytest.raises(ValueError, match="cut off before its index"):
        probe(tmp_path / "cut.mp4")


def test_meta_tensors_are_named():
    model = rdafnet.build("tiny")
    with pytest.raises(ValueError, match="'meta' tensor"):
        rdafnet.deblur(torch.empty(1, 3, 8, 8, device="meta"), model)
    with torch.device("meta"):
        ghost = rdafnet.build("tiny")
    with pytest.raises(ValueError, match="weights are on the 'meta' device"):
        rdafnet.deblur(torch.rand(1, 3, 8, 8), ghost)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: rdafnet.build("single-stage", num_blocks=[2, 2]), "must be an integer for RDAFNet"),
        (lambda: rdafnet.build("multi-stage", num_blocks=4), "must be a list of 2 to 8 integers"),
        (lambda: rdafnet.build("tiny", width="16"), "width='16'"),
    ],
)
def test_hyperparameters_of_the_wrong_kind_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tile": 16.5}, "tile must be an even number >= 16, got 16.5"),
        ({"tile": True}, "tile must be an even number"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"tile": 32, "overlap": 2.5}, "overlap must be an integer >= 0"),
    ],
)
def test_deblur_checks_its_numbers_before_any_work(kw, match):
    img = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match=match):
        rdafnet.deblur(img, rdafnet.from_pretrained(), **kw)


def test_inputs_outside_0_1_are_refused_and_other_float_dtypes_run_in_the_weights_dtype():
    model = rdafnet.from_pretrained()
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"expected values in \[0, 1\], got \[0.0\d*, 25\d"):
        model(x * 255)
    with torch.no_grad():
        half, full = model(x.half()), model(x.half().float())
    assert half.dtype == torch.float16 and (half.float() - full).abs().max() < 1e-3


@pytest.mark.parametrize(
    "source, error, match", [("", ValueError, "empty name"), (3, TypeError, "registered name, a hub id or a path")]
)
def test_from_pretrained_names_what_it_takes(source, error, match):
    with pytest.raises(error, match=match):
        rdafnet.from_pretrained(source)
