"""Reference NIQE values from BasicSR's implementation, for tests/data/niqe_reference.json.

BasicSR cannot be installed beside the CPU build of torch here (it pulls torchvision), so its
metric is imported from an unpacked source distribution with its package ``__init__`` files
bypassed (they import the whole toolbox):

    pip download --no-deps --no-build-isolation --no-binary :all: basicsr==1.4.2 -d /tmp/bsr
    tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python benchmarks/niqe_reference.py --basicsr /tmp/bsr/basicsr-1.4.2 [--data ../shared/data] \
        --out tests/data/niqe_reference.json

Both implementations get the same grey image (MATLAB's rgb2gray of the uint8 image, rounded), so the
numbers compare the metrics alone. Each value is BasicSR's ``niqe(img, mu, cov, window)``, once as
released and once with its half-size ``imresize`` computed in float64 (BasicSR computes it in
float32; MATLAB, whose results BasicSR reproduces, in double).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def reference_images(data: Path | None) -> dict[str, np.ndarray]:
    """The images of the reference set: the bundled sample, scikit-image's photographs, a synthetic
    blur of one, and (where ../shared/data is present) real blurry photos of Lai et al."""
    import skimage.data

    from rdafnet.io.image import read_image

    images = {"sample:gopro_blurry.png": read_image(ROOT / "rdafnet" / "samples" / "gopro_blurry.png")}
    for name in ("astronaut", "coffee", "chelsea", "camera", "rocket"):
        images[f"skimage:{name}"] = getattr(skimage.data, name)()
    images["skimage:astronaut+blur"] = blurred_astronaut()
    if data is not None and (data / "lai_real_blurry").is_dir():
        for path in sorted((data / "lai_real_blurry").glob("*.jpg"))[:3]:
            images[f"lai:{path.name}"] = read_image(path)
    return images


def blurred_astronaut() -> np.ndarray:
    """scikit-image's astronaut under a fixed horizontal 15 px box blur (uint8)."""
    import skimage.data

    img = skimage.data.astronaut().astype(np.float64)
    k = 15
    pad = np.pad(img, ((0, 0), (k // 2, k // 2), (0, 0)), mode="edge")
    out = sum(pad[:, i : i + img.shape[1]] for i in range(k)) / k
    return np.round(out).astype(np.uint8)


def load_basicsr_niqe(src: Path):
    """BasicSR's ``basicsr.metrics.niqe`` module from its source tree, without its package imports."""
    for pkg in ("basicsr", "basicsr.utils", "basicsr.metrics"):
        mod = types.ModuleType(pkg)
        mod.__path__ = [str(src / pkg.replace(".", "/"))]
        sys.modules[pkg] = mod
    registry = types.ModuleType("basicsr.utils.registry")
    registry.METRIC_REGISTRY = types.SimpleNamespace(register=lambda: lambda f: f)
    sys.modules["basicsr.utils.registry"] = registry
    metric_util = types.ModuleType("basicsr.metrics.metric_util")
    metric_util.reorder_image = metric_util.to_y_channel = None  # only calculate_niqe uses them
    sys.modules["basicsr.metrics.metric_util"] = metric_util
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # only calculate_niqe uses it
    return importlib.import_module("basicsr.metrics.niqe")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--basicsr", type=Path, required=True, help="an unpacked basicsr source distribution")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "niqe_reference.json")
    a = p.parse_args()
    from rdafnet.evaluation.niqe import niqe as ours
    from rdafnet.evaluation.niqe import to_gray255

    ref = load_basicsr_niqe(a.basicsr)
    params = np.load(a.basicsr / "basicsr" / "metrics" / "niqe_pris_params.npz")
    from rdafnet.evaluation.niqe import imresize_half

    released = ref.imresize
    rows: dict[str, dict[str, float]] = {"basicsr": {}, "basicsr_float64_resize": {}}
    print(f"{'image':32s} {'BasicSR':>10s} {'f64 resize':>10s} {'rdafnet':>10s} {'diff':>9s} {'diff f64':>9s}")
    for name, img in reference_images(a.data if a.data.is_dir() else None).items():
        gray = to_gray255(img)

        def run(gray: np.ndarray = gray) -> float:
            return float(ref.niqe(gray, params["mu_pris_param"], params["cov_pris_param"], params["gaussian_window"]))

        ref.imresize = released
        theirs = run()
        ref.imresize = lambda x, scale, antialiasing: imresize_half(x)
        theirs64 = run()
        mine = ours(img)
        rows["basicsr"][name], rows["basicsr_float64_resize"][name] = theirs, theirs64
        print(f"{name:32s} {theirs:10.6f} {theirs64:10.6f} {mine:10.6f} {mine - theirs:9.2e} {mine - theirs64:9.2e}")
    a.out.write_text(
        json.dumps(
            {
                "source": "BasicSR 1.4.2 basicsr.metrics.niqe.niqe() on to_gray255(image), as "
                "released and with a float64 imresize; benchmarks/niqe_reference.py",
                **rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
