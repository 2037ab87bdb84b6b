"""Video in, video out (PyAV), the frame iterator, and resuming a killed run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import decode_frames, make_clip
from PIL import Image

import rdafnet
from rdafnet.cli import main
from rdafnet.evaluation.metrics import psnr

av = pytest.importorskip("av", reason="video needs PyAV: pip install 'rdafnet[video]'")

#: H.264 at crf 16 with 4:2:0 chroma against the exact restored frame, on a crop of a real frame:
#: 39.0-40.4 dB measured
CODEC_PSNR = 37.0


@pytest.fixture(scope="module")
def model():
    return rdafnet.optimize(rdafnet.from_pretrained())


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", n=20, fps=24)


def _audio_packets(path):
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts, p.dts) for p in c.demux(audio=0) if p.size]


def test_cli_restores_a_clip_with_its_audio_and_timing(tmp_path, clip, model):
    out = tmp_path / "clip_deblurred.mp4"
    assert main(["deblur", str(clip), "-o", str(out), "--segment-frames", "8", "--precision", "fp32"]) == 0
    src, src_pts, s_in = decode_frames(clip)
    got, got_pts, s_out = decode_frames(out)
    assert len(got) == len(src) == 20
    assert got_pts == src_pts  # every timestamp, so rate and duration
    assert s_out["rate"] == s_in["rate"] == 24
    assert s_out["size"] == s_in["size"] == (96, 64)
    assert abs(s_out["duration"] - s_in["duration"]) <= 1 / 24
    assert _audio_packets(out) == _audio_packets(clip) != []  # copied unchanged
    quality = [psnr(restored, rdafnet.deblur(frame, model)) for frame, restored in zip(src, got, strict=True)]
    print("codec PSNR of each frame against the exact restored frame:", [round(q, 1) for q in quality])
    assert min(quality) > CODEC_PSNR
    assert not list(tmp_path.glob(".*"))  # the work folder is gone


def test_rotation_vfr_10bit_and_odd_sizes_are_kept(tmp_path, model):
    vfr = [0, 1, 3, 4, 7, 8, 9, 12]
    cases = {
        "rot": dict(rotation=90),
        "vfr": dict(pts=vfr, n=8),
        "deep": dict(pix_fmt="yuv420p10le"),
        "odd": dict(w=65, h=49, pix_fmt="yuv444p"),
    }
    for name, kw in cases.items():
        src = make_clip(tmp_path / f"{name}.mp4", audio=False, **{"n": 6, **kw})
        result = rdafnet.deblur_video(
            src, tmp_path / f"{name}_out.mkv" if name == "vfr" else tmp_path / f"{name}_out.mp4", model
        )
        info_in, info_out = rdafnet.io.probe(src), rdafnet.io.probe(result.path)
        assert (info_out.width, info_out.height, info_out.rotation, info_out.bit_depth) == (
            info_in.width,
            info_in.height,
            info_in.rotation,
            info_in.bit_depth,
        ), name
        assert decode_frames(result.path)[1] == pytest.approx(decode_frames(src)[1], abs=1e-3), name  # mkv: ms
    assert rdafnet.io.probe(tmp_path / "rot_out.mp4").rotation == 90
    assert rdafnet.io.probe(tmp_path / "deep_out.mp4").pix_fmt == "yuv420p10le"
    frames, _, _ = decode_frames(tmp_path / "deep_out.mp4")
    assert frames[0].dtype == np.uint16


def test_a_killed_run_resumes_without_redoing_finished_segments(tmp_path, clip, model):
    straight = rdafnet.deblur_video(clip, tmp_path / "straight.mp4", model, segment_frames=4)
    calls = {"n": 0}

    def die_after_ten(module, inputs):
        calls["n"] += 1
        if calls["n"] > 10:
            raise KeyboardInterrupt

    handle = model.register_forward_pre_hook(die_after_ten)
    with pytest.raises(KeyboardInterrupt):
        rdafnet.deblur_video(clip, tmp_path / "resumed.mp4", model, segment_frames=4)
    handle.remove()
    work = tmp_path / ".resumed.mp4.rdafnet-work"
    assert sorted(p.name for p in work.glob("seg-*.mp4")) == ["seg-000000.mp4", "seg-000001.mp4"]
    assert not (tmp_path / "resumed.mp4").exists()  # nothing under the final name
    (work / ".seg-000002.mp4.x.tmp").write_bytes(b"half a segment")  # what a SIGKILL leaves
    resumed = rdafnet.deblur_video(clip, tmp_path / "resumed.mp4", model, segment_frames=4)
    assert (resumed.frames, resumed.restored) == (20, 12)
    assert [a.tobytes() for a in decode_frames(resumed.path)[0]] == [
        a.tobytes() for a in decode_frames(straight.path)[0]
    ]
    assert not work.exists()


def test_frames_out_and_a_folder_of_frames_in(tmp_path, clip, model):
    rdafnet.deblur_video(clip, tmp_path / "v.mp4", model, frames_out=tmp_path / "frames")
    frames = sorted((tmp_path / "frames").glob("*.png"))
    assert len(frames) == 20 and frames[0].name == "v_000000.png"
    exact = rdafnet.deblur(decode_frames(clip)[0][3], model)
    assert np.array_equal(rdafnet.io.read_image(frames[3]), exact)
    assert main(["deblur", str(tmp_path / "frames"), "-o", str(tmp_path / "from_frames.mkv"), "--fps", "12.5"]) == 0
    info = rdafnet.io.probe(tmp_path / "from_frames.mkv")
    assert (info.frames or len(decode_frames(tmp_path / "from_frames.mkv")[0])) == 20
    assert float(info.rate) == 12.5
    with pytest.raises(FileExistsError, match="already holds images"):
        rdafnet.deblur_video(clip, tmp_path / "w.mp4", model, frames_out=tmp_path / "frames")


def test_bad_video_inputs_say_what_is_wrong(tmp_path, clip, model, capsys):
    (tmp_path / "notes.mp4").write_text("not a video")
    assert main(["deblur", str(tmp_path / "notes.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "not a video file" in capsys.readouterr().err
    with av.open(str(tmp_path / "sound.m4a"), "w") as out:  # audio only
        a = out.add_stream("aac", rate=16000, layout="mono")
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        fr.sample_rate, fr.pts = 16000, 0
        out.mux(a.encode(fr))
        out.mux(a.encode())
    (tmp_path / "sound.mp4").write_bytes((tmp_path / "sound.m4a").read_bytes())
    assert main(["deblur", str(tmp_path / "sound.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "no video stream" in capsys.readouterr().err
    assert main(["deblur", str(clip), "-o", str(tmp_path / "o.avi")]) == 2
    assert ".mp4" in capsys.readouterr().err
    (tmp_path / "taken.mp4").write_bytes(b"x")
    assert main(["deblur", str(clip), "-o", str(tmp_path / "taken.mp4")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "taken.mp4").read_bytes() == b"x"


def test_an_encoder_failure_is_one_line_and_leaves_no_output(tmp_path, clip, capsys, monkeypatch):
    # the encoder thread fails on its first segment (x264 refuses the preset, let through the up-front
    # check here): the command must neither hang nor print a traceback, and nothing may appear under the
    # output name
    import rdafnet.cli.deblur
    import rdafnet.inference.video
    import rdafnet.io.video

    presets = (*rdafnet.io.video.X264_PRESETS, "no-such-preset")
    monkeypatch.setattr(rdafnet.inference.video, "X264_PRESETS", presets)
    monkeypatch.setattr(rdafnet.cli.deblur, "X264_PRESETS", presets)
    out = tmp_path / "o.mp4"
    assert main(["deblur", str(clip), "-o", str(out), "--preset", "no-such-preset", "--segment-frames", "4"]) == 2
    err = capsys.readouterr().err  # (the progress bar also writes to stderr)
    assert [line for line in err.splitlines() if line.startswith("error: ")] != [] and "Traceback" not in err
    assert "no-such-preset" in err and not out.exists()


def test_a_truncated_video_restores_what_decodes(tmp_path, model, capsys):
    whole = make_clip(tmp_path / "whole.mkv", n=24, audio=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert main(["deblur", str(cut), "-o", str(tmp_path / "cut_out.mp4")]) == 1
    err = capsys.readouterr().err
    got = decode_frames(tmp_path / "cut_out.mp4")[0]
    assert 0 < len(got) < 24
    assert f"after frame {len(got)}" in err or "ends after" in err or "stopped" in err


def test_iter_deblur_streams_frames_in_order_with_bounded_read_ahead(model):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(7)]
    frames[4] = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)  # a size change mid-stream
    pulled = {"n": 0}

    def source():
        for f in frames:
            pulled["n"] += 1
            yield f

    out = []
    for i, y in enumerate(rdafnet.iter_deblur(source(), model, batch_size=2, prefetch=2)):
        assert pulled["n"] <= i + 1 + 2 + 2 + 1  # consumed + batch + prefetch queue + one in hand
        out.append(y)
    assert len(out) == 7
    for f, y in zip(frames, out, strict=True):
        ref = rdafnet.deblur(f, model)
        assert y.shape == f.shape and np.abs(y.astype(int) - ref).max() <= 1  # batched: rounding only
    pil = rdafnet.iter_deblur([Image.fromarray(frames[0]), torch.from_numpy(frames[1]).permute(2, 0, 1)], model)
    a, b = list(pil)
    assert a.mode == "RGB" and b.dtype == torch.uint8 and b.shape == (3, 40, 56)


def test_iter_deblur_reports_a_failing_source(model):
    def source():
        yield np.zeros((16, 16, 3), np.uint8)
        raise OSError("camera unplugged")

    with pytest.raises(OSError, match="camera unplugged"):
        list(rdafnet.iter_deblur(source(), model))


def test_deblur_video_is_exported():
    assert {"deblur_video", "iter_deblur"} <= set(rdafnet.__all__)
    assert rdafnet.io.is_video("a/B.MOV") and not rdafnet.io.is_video("a/b.png")


def test_a_frame_size_change_mid_stream_is_named(tmp_path, capsys):
    # MPEG-TS files concatenate: the second half has another size
    a = make_clip(tmp_path / "a.ts", w=96, h=64, n=6, audio=False)
    b = make_clip(tmp_path / "b.ts", w=80, h=48, n=6, audio=False)
    (tmp_path / "ab.ts").write_bytes(a.read_bytes() + b.read_bytes())
    out = tmp_path / "ab.mp4"
    assert (
        main(["deblur", str(tmp_path / "ab.ts"), "-o", str(out), "--precision", "fp32", "--segment-frames", "2"]) == 2
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert err and "the frame size changes at frame 7 (from 96x64 to 80x48)" in err[0] and not out.exists()


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_frames_out_of_a_rotated_clip_are_upright(tmp_path, model, rotation):
    # the coded frames of a phone's portrait clip lie on their side; the display matrix turns them
    # counterclockwise by its rotation (FFmpeg's av_display_rotation_get), as players do
    clip = make_clip(tmp_path / "rot.mp4", n=3, audio=False, rotation=rotation)
    rdafnet.deblur_video(clip, tmp_path / "out.mp4", model, frames_out=tmp_path / "frames")
    coded, _, _ = decode_frames(clip)
    written = sorted((tmp_path / "frames").glob("*.png"))
    assert len(written) == 3
    for frame, path in zip(coded, written, strict=True):
        shown = np.asarray(Image.open(path))
        want = np.rot90(rdafnet.deblur(frame, model), rotation // 90)
        assert shown.shape == want.shape and (rotation == 180 or shown.shape[:2] == frame.shape[1::-1])
        assert np.abs(shown.astype(int) - want).max() <= 1
