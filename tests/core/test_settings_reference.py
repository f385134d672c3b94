from __future__ import annotations

from pipeline.core.config import PROJECT_ROOT
from pipeline.core.settings_reference import environment_variables, settings_reference


def test_docs_settings_md_is_current() -> None:
    committed = (PROJECT_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert committed == settings_reference(), (
        "docs/settings.md is stale: run `recsys settings-reference > docs/settings.md`"
    )


def test_every_variable_has_a_row_and_a_meaning() -> None:
    text = settings_reference()
    for variable, _, field, info in environment_variables():
        assert f"| `{variable}` |" in text
        assert info.description, f"{variable} ({field}) has no description"
