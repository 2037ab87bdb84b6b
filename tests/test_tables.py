"""The generated tables in README.md and docs/ are what benchmarks/tables.py writes from the results in
benchmarks/results/: a figure edited by hand, or a result changed without regenerating, fails here."""

import sys

from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import tables  # noqa: E402


def test_generated_tables_match_the_results():
    assert tables.stale() == []


def test_the_check_sees_a_hand_edit(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("<!-- table: speed-run -->\nCPU: a hand-written figure\n<!-- /table -->\n")
    monkeypatch.setattr(tables, "PAGES", [page])
    assert tables.stale() == [page]
    page.write_text(tables.render(page.read_text()))
    assert tables.stale() == [] and tables.result()["cpu"] in page.read_text()


def test_every_marked_table_is_known():
    for page in tables.PAGES:
        for m in tables.MARKER.finditer(page.read_text()):
            assert m[3] in tables.TABLES, (page.name, m[3])


def test_a_table_in_a_list_item_takes_its_indentation(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("- Speed:\n  <!-- table: speed-summary -->\n  <!-- /table -->\n")
    text = tables.render(page.read_text())
    body = text.split("-->\n", 1)[1].rsplit("<!-- /table", 1)[0].splitlines()
    assert body and all(line.startswith("  ") for line in body)
    assert tables.render(text) == text


def test_no_speed_figure_is_written_by_hand_in_the_user_pages():
    # seconds and speed ratios of the current code come from benchmarks/results/ only
    import re

    for name in ("README.md", "docs/faq.md", "docs/quickstart.md", "docs/pretrained.md"):
        bare = tables.MARKER.sub("", (ROOT / name).read_text())
        found = re.findall(r"[^\n]*\b(?:\d+(?:\.\d+)?x|\d+\.\d+ ?s)\b[^\n]*", bare)
        assert found == [], (name, found)
