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
            assert m[2] in tables.TABLES, (page.name, m[2])
