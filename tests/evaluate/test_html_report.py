"""The quality report as one self-contained HTML page."""

from __future__ import annotations

import base64
from pathlib import Path

from pipeline.evaluate.html_report import html_page, images_under

PNG = b"\x89PNG\r\n\x1a\nnot really"


def test_figures_are_embedded_and_tables_rendered() -> None:
    text = "# Night\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![trend](plots/trends.png)\n"
    page = html_page(text, {"plots/trends.png": PNG}, "Quality report")
    assert page.startswith("<!doctype html>") and "<title>Quality report</title>" in page
    assert "<table>" in page and "<td>1</td>" in page
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in page
    assert 'src="plots/' not in page  # nothing points outside the page


def test_html_in_the_text_stays_text_and_a_missing_figure_says_so() -> None:
    text = "reason: <script>alert(1)</script>\n\n![gone](plots/missing.png)\n"
    page = html_page(text, {}, "<b>t</b>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page
    assert "[figure plots/missing.png was not logged]" in page and "<img" not in page


def test_images_under_a_folder_are_keyed_as_the_report_links_them(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.png").write_bytes(PNG)
    (tmp_path / "quality_report.md").write_text("x")
    assert images_under(tmp_path) == {"plots/a.png": PNG}
