"""`recsys report --html`: the night's quality report as one page, from MLflow."""

from __future__ import annotations

import mlflow
import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.serve.report import write_html_report
from pipeline.train.registry import use_tracking

PNG = b"\x89PNG\r\n\x1a\nfake"


def test_with_no_night_trained_the_error_says_what_to_do(home: Settings) -> None:
    with pytest.raises(RecsysError, match="run `recsys train` first"):
        write_html_report(home, home.home / "report.html")


def test_a_night_without_a_champion_or_an_html_page_is_rendered_from_its_markdown(
    home: Settings, tmp_path
) -> None:
    use_tracking(home)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "trends.png").write_bytes(PNG)
    with mlflow.start_run() as run:  # a night logged before the HTML page existed
        mlflow.set_tags({"stage": "train", "run_date": "2026-03-01"})
        mlflow.log_text("# Quality report: night 2026-03-01\n\n![t](plots/trends.png)\n",
                        "quality_report.md")  # fmt: skip
        mlflow.log_artifacts(str(plots), "plots")
    out = tmp_path / "out" / "night.html"
    summary = write_html_report(home, out)
    assert summary["run_id"] == run.info.run_id and "no champion" in summary["run"]
    page = out.read_text(encoding="utf-8")
    assert "<title>Quality report: night 2026-03-01</title>" in page
    assert "data:image/png;base64," in page and 'src="plots/' not in page
