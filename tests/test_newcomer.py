"""What a newcomer meets first: arrays they can hand to torch without a warning, a README whose first
block runs as written, no placeholder repository names."""

import re
import warnings

import numpy as np
import pytest
import torch
from helpers import ROOT
from PIL import Image

from rdafnet.io.image import read_image, write_image
from rdafnet.io.video import open_source


def _files(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    yield "png", write_image(tmp_path / "a.png", rgb)
    yield "jpeg", write_image(tmp_path / "a.jpg", rgb)
    yield "webp", write_image(tmp_path / "a.webp", rgb)
    yield "png16", write_image(tmp_path / "b.png", rgb.astype(np.uint16) * 257)
    yield "tiff16", write_image(tmp_path / "b.tif", rgb.astype(np.uint16) * 257)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    yield "grey", tmp_path / "grey.png"
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    yield "palette", tmp_path / "palette.gif"
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(tmp_path / "rgba.png")
    yield "rgba", tmp_path / "rgba.png"


def test_every_reader_gives_writable_arrays_torch_takes_without_a_warning(tmp_path):
    for kind, path in _files(tmp_path):
        arr = read_image(path)
        assert arr.flags.writeable, kind
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "The given NumPy array is not writable" would raise here
            torch.from_numpy(arr)
    # a frame folder read as a video: its frames too
    source = open_source([tmp_path / "a.png", tmp_path / "b.png"], fps=2)
    for _, frame in source.frames():
        assert frame.flags.writeable


def test_the_readmes_first_python_block_imports_what_it_uses():
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert first.lstrip().startswith("import rdafnet")


def test_no_placeholder_repository_in_hubconf():
    text = (ROOT / "hubconf.py").read_text()
    assert "rdafnet/rdafnet" not in text and 'source="local"' in text


@pytest.mark.parametrize("path", ["restored/x.png"])
def test_the_readmes_first_command_leaves_nothing_untracked(path):
    import subprocess

    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git clone")
    assert ignored.returncode == 0  # restored/ (the README's first command writes there) is ignored
