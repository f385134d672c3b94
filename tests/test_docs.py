"""The docs quote only results their results files hold (`bench/check_citations.py`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checker():
    spec = importlib.util.spec_from_file_location(
        "check_citations", ROOT / "bench" / "check_citations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quoted_result_is_in_its_results_file() -> None:
    assert checker().problems() == []


def test_a_wrong_or_unlinked_number_and_an_undated_file_are_refused(tmp_path: Path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "q.md").write_text("Measured on 2026-12-01.\nCommand: `x`\n| ndcg | 0.26124 |\n")
    (results / "undated.md").write_text("| ndcg | 0.5000 |\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "NDCG@10 0.2612 ([q](bench/results/q.md)).\n\n"  # rounded from the file: fine
        "NDCG@10 0.2700 ([q](bench/results/q.md)).\n\n"  # not in the file
        "NDCG@10 0.3100 with no link.\n\n"
        "A value 0.5000 ([u](bench/results/undated.md)).\n\n"
        "```\nin code: 0.9999\n```\n"
    )
    found = checker().problems(tmp_path)
    assert len(found) == 3, found
    assert "0.2700 is in none of q.md" in found[0]
    assert "quotes 0.3100 without a bench/results link" in found[1]
    assert "undated.md: says no date or no `Command:`" in found[2]


def test_the_release_is_the_same_in_the_package_pyproject_and_changelog() -> None:
    import re
    import tomllib

    import pipeline

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert newest is not None
    assert pipeline.__version__ == project["version"] == newest.group(1)
