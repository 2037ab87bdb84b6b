"""Every Python example in README.md and docs/ runs as written (on the bundled sample); the examples of
a page run in order, in one namespace, as a reader would run them."""

import re

import pytest
from helpers import ROOT

SKIP = "<!-- not run by the tests"
BLOCK = re.compile(r"(<!--[^\n]*-->\n)?```python\n(.*?)```", re.S)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples(page):
    return [m.group(2) for m in BLOCK.finditer(page.read_text()) if not (m.group(1) or "").startswith(SKIP)]


def test_every_python_example_is_run_or_says_why_not():
    for page in PAGES:
        text = page.read_text()
        assert text.count("```python") == len(_examples(page)) + text.count(SKIP), page.name
    assert _examples(ROOT / "README.md") and _examples(ROOT / "docs" / "quickstart.md")


@pytest.mark.parametrize("page", [p for p in PAGES if _examples(p)], ids=lambda p: p.name)
def test_examples_run(page, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    namespace = {"__name__": "__docs__"}
    for code in _examples(page):
        exec(compile(code, f"<{page.name} example>", "exec"), namespace)  # raises if an example is wrong
    if "sharp" in namespace:  # an example that restores an image shows a real result
        assert getattr(namespace["sharp"], "size", 0)
