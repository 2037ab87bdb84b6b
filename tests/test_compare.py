"""The before/after view in a real browser (headless Chromium from Debian's packages, driven by Selenium and
Debian's chromedriver): the divider splits the two pictures where it stands, follows the mouse, a touch and
the arrow keys; 100% shows one image pixel per screen pixel and pans; the third picture replaces the
second; the saved file loads nothing from a network. Skipped where no browser is installed, except where
RDAFNET_REQUIRE_BROWSER=1 (CI) makes a missing browser a failure."""

from __future__ import annotations

import io
import os
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from helpers import ROOT
from PIL import Image

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.io.image import read_image

W, H, BLOCK = 640, 360, 40


def _blocks(seed: int) -> np.ndarray:
    """Flat colour blocks (BLOCK px): any scale keeps the colour at a block's centre."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, (H // BLOCK, W // BLOCK, 3), dtype=np.uint8)
    return np.kron(colours, np.ones((BLOCK, BLOCK, 1), dtype=np.uint8))


BEFORE, AFTER, THIRD = _blocks(0), _blocks(1), _blocks(2)


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if webdriver is None or not (chromium and driver):
        if os.environ.get("RDAFNET_REQUIRE_BROWSER") == "1":
            pytest.fail("no browser: apt-get install chromium chromium-driver, pip install selenium")
        pytest.skip("headless Chromium, chromedriver or selenium is not installed")
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=900,700",
        "--force-device-scale-factor=1",
        "--force-color-profile=srgb",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver), options=options)
    yield d
    d.quit()


def _open(browser, path):
    browser.get(path.resolve().as_uri())
    root = browser.find_element("css selector", ".rdafnet-compare")
    assert root.get_attribute("data-ready") == "1"  # the script ran
    return root


def _shot(browser) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")).astype(int)


def _geometry(browser):
    """The shown picture's box on the screen (left, top, width, height) and the divider's x."""
    r = browser.execute_script(
        "const r=document.querySelector('.rc-inner').getBoundingClientRect(),"
        "s=document.querySelector('.rc-stage').getBoundingClientRect(),"
        "d=document.querySelector('.rc-divider').getBoundingClientRect();"
        "return [r.left,r.top,r.width,r.height,s.left,s.top,s.width,s.height,d.left+d.width/2]"
    )
    return [float(v) for v in r]


def _check_sides(browser, left_img, right_img):
    """At every block centre shown: the first picture's colour left of the divider, the second's right."""
    shot = _shot(browser)
    x0, y0, w, h, sx, sy, sw, sh, divider = _geometry(browser)
    checked = 0
    for by in range(H // BLOCK):
        for bx in range(W // BLOCK):
            cx, cy = x0 + (bx + 0.5) * BLOCK * w / W, y0 + (by + 0.5) * BLOCK * h / H
            if not (sx + 4 < cx < sx + sw - 4 and sy + 4 < cy < sy + sh - 4) or abs(cx - divider) < 12:
                continue  # off the stage, or under the divider line and handle
            want = (left_img if cx < divider else right_img)[int((by + 0.5) * BLOCK), int((bx + 0.5) * BLOCK)]
            got = shot[int(cy), int(cx)]
            assert np.abs(got - want).max() <= 2, (bx, by, got, want, divider)
            checked += 1
    assert checked > 20
    return divider


@pytest.fixture
def view(tmp_path):
    return rdafnet.compare(BEFORE, AFTER, sharp=THIRD, labels=("before", "after", "third")).save(tmp_path / "v.html")


def test_the_divider_splits_the_pictures_and_follows_mouse_and_keys(browser, view):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    root = _open(browser, view)
    x0, _, w, *_ = _geometry(browser)
    assert float(root.get_attribute("data-split")) == 0.5
    assert _check_sides(browser, BEFORE, AFTER) == pytest.approx(x0 + w / 2, abs=1.5)
    handle = browser.find_element("css selector", ".rc-handle")
    ActionChains(browser).click_and_hold(handle).move_by_offset(-w / 4, 0).release().perform()
    assert float(root.get_attribute("data-split")) == pytest.approx(0.25, abs=0.01)
    assert _check_sides(browser, BEFORE, AFTER) == pytest.approx(x0 + w / 4, abs=2)
    for _ in range(10):
        root.send_keys(Keys.ARROW_RIGHT)
    assert float(root.get_attribute("data-split")) == pytest.approx(0.35, abs=0.011)
    root.send_keys(Keys.SHIFT, Keys.ARROW_RIGHT)
    assert float(root.get_attribute("data-split")) == pytest.approx(0.45, abs=0.011)
    _check_sides(browser, BEFORE, AFTER)


def test_a_touch_drag_moves_the_divider(browser, view):
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    root = _open(browser, view)
    x0, y0, w, h, *_ = _geometry(browser)
    actions = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    actions.pointer_action.move_to_location(int(x0 + w * 0.5), int(y0 + h / 3)).pointer_down()
    actions.pointer_action.move_to_location(int(x0 + w * 0.8), int(y0 + h / 3)).pointer_up()
    actions.perform()
    assert float(root.get_attribute("data-split")) == pytest.approx(0.8, abs=0.01)
    _check_sides(browser, BEFORE, AFTER)


def test_100_percent_shows_one_image_pixel_per_screen_pixel_and_pans(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    frame = read_image(rdafnet.SAMPLE_IMAGE)[:, :, :3]  # 1280x720: larger than the window, so fit scales it
    after = frame[:, ::-1].copy()  # mirrored: any misplaced pixel shows
    path = rdafnet.compare(frame, after).save(tmp_path / "z.html")
    root = _open(browser, path)
    assert _geometry(browser)[2] < 1280  # fit: scaled down
    browser.find_element("css selector", ".rc-zoom").click()
    assert root.get_attribute("data-zoom") == "100"

    def one_to_one():
        x0, y0, w, h, sx, sy, sw, sh, divider = _geometry(browser)
        assert (w, h) == (1280, 720)
        shot = _shot(browser)
        ys = slice(int(sy) + 2, int(sy + sh) - 2)
        for lo, hi, img in ((sx + 2, divider - 12, frame), (divider + 12, sx + sw - 2, after)):
            xs = slice(int(lo), int(hi))
            want = img[ys.start - int(y0) : ys.stop - int(y0), xs.start - int(x0) : xs.stop - int(x0)]
            assert np.abs(shot[ys, xs] - want).max() <= 2  # each screen pixel is one image pixel
        return x0

    before_pan = one_to_one()
    stage = browser.find_element("css selector", ".rc-stage")
    ActionChains(browser).move_to_element_with_offset(stage, 200, 0).click_and_hold().move_by_offset(
        -150, -40
    ).release().perform()
    assert one_to_one() == pytest.approx(before_pan - 150, abs=1)
    assert float(root.get_attribute("data-split")) == 0.5  # panning leaves the divider where it was


def test_the_third_picture_replaces_the_second(browser, view):
    _open(browser, view)
    button = browser.find_element("css selector", ".rc-third")
    assert button.text == "show third"
    button.click()
    _check_sides(browser, BEFORE, THIRD)
    assert browser.find_element("css selector", ".rc-r").text == "third"
    button.click()
    _check_sides(browser, BEFORE, AFTER)


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "data", "action")]


def test_the_saved_view_loads_nothing_from_a_network(view):
    text = view.read_text()
    parser = _Refs()
    parser.feed(text)
    assert parser.refs and all(v.startswith("data:image/png;base64,") for _, k, v in parser.refs if k == "src")
    assert [r for r in parser.refs if r[1] != "src"] == []  # no links, stylesheets or forms
    assert "http://" not in text and "https://" not in text and "url(" not in text and "@import" not in text
    assert "<script src" not in text


def test_the_sizes_must_agree_and_max_side_downscales(tmp_path):
    with pytest.raises(ValueError, match="differ in size"):
        rdafnet.compare(BEFORE, AFTER[:100])
    with pytest.raises(ValueError, match="labels names the two pictures"):
        rdafnet.compare(BEFORE, AFTER, labels="before")
    small = rdafnet.compare(BEFORE, AFTER, max_side=320)
    assert [im.shape for im in small.images] == [(180, 320, 3)] * 2
    # tensors, PIL images and paths are taken as deblur takes them
    import torch

    t = torch.from_numpy(BEFORE).permute(2, 0, 1).float() / 255
    sample = tmp_path / "sample-640x360.png"
    Image.open(rdafnet.SAMPLE_IMAGE).resize((W, H)).save(sample)  # a path of the same size
    v = rdafnet.compare(t, Image.fromarray(AFTER), sharp=sample, max_side=64)
    np.testing.assert_array_equal(rdafnet.compare(t, AFTER).images[0], BEFORE)
    assert len(v.images) == 2 + 1 and "rdafnet-compare" in v._repr_html_()


def test_deblur_compare_writes_a_view_per_image_and_an_index(tmp_path, browser):
    from rdafnet.io.image import write_image

    src = tmp_path / "in"
    crop = read_image(rdafnet.SAMPLE_IMAGE)[200:296, 300:428]
    write_image(src / "a.png", crop)
    write_image(src / "b.png", crop[::-1].copy())
    assert cli(["deblur", str(src), "-o", str(tmp_path / "out"), "--compare"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["a.compare.html", "a.png", "b.compare.html", "b.png", "index.html"]
    browser.get((out / "index.html").as_uri())
    links = [a.get_attribute("href") for a in browser.find_elements("css selector", "a")]
    assert [link.rsplit("/", 1)[-1] for link in links] == ["a.compare.html", "b.compare.html"]
    browser.get(links[0])
    root = browser.find_element("css selector", ".rdafnet-compare")
    assert root.get_attribute("data-ready") == "1" and root.get_attribute("data-width") == "128"
    restored = read_image(out / "a.png")
    _check_pixels = _shot(browser)  # the restored side shows the restored file's pixels, 1:1 (it fits)
    x0, y0, w, h, *_ = _geometry(browser)
    assert (w, h) == (128, 96)
    right = _check_pixels[int(y0) + 2 : int(y0) + 94, int(x0) + 80 : int(x0) + 126]
    assert np.abs(right - restored[2:94, 80:126]).max() <= 2
    # the same command again: nothing redone, the views kept
    before = (out / "a.compare.html").stat().st_mtime_ns
    assert cli(["deblur", str(src), "-o", str(tmp_path / "out"), "--compare"]) == 0
    assert (out / "a.compare.html").stat().st_mtime_ns == before


@pytest.mark.slow
def test_the_notebook_repr_is_the_view():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np, rdafnet\n"
            "rdafnet.compare(np.zeros((32, 48, 3), np.uint8), np.full((32, 48, 3), 255, np.uint8))"
        )
    ]
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    (out,) = nb.cells[0].outputs
    html = out["data"]["text/html"]
    assert 'class="rdafnet-compare"' in html and html.count("data:image/png;base64,") == 2 and "<script>" in html
    assert not [o for o in nb.cells[0].outputs if o.get("name") == "stderr"]
