"""docs/settings.md, generated from `Settings`: every variable, its default and what it means.

`recsys settings-reference > docs/settings.md` rewrites it; a test fails when it is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pipeline.core.config import PROJECT_ROOT, SECTIONS, Settings

TOP_LEVEL = "Top level: the whole night"


def environment_variables() -> Iterator[tuple[str, str | None, str, FieldInfo]]:
    """(variable, section or None, field name, field) for every setting, in declaration order."""
    prefix = Settings.model_config["env_prefix"]
    for name, info in Settings.model_fields.items():
        if name in SECTIONS:
            for field, nested in SECTIONS[name].model_fields.items():
                yield f"{prefix}{name}_{field}".upper(), name, field, nested
        else:
            yield f"{prefix}{name}".upper(), None, name, info


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if value is None or value == "":
        return "(none)"
    if isinstance(value, Path):
        # defaults inside the checkout read as repo-relative, wherever it is cloned
        return (
            f"`{value.relative_to(PROJECT_ROOT)}/`"
            if value.is_relative_to(PROJECT_ROOT)
            else f"`{value}`"
        )
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def settings_reference() -> str:
    lines = [
        "# Settings reference",
        "",
        "Generated from `pipeline/core/config.py` by `recsys settings-reference`; do not edit by",
        "hand (a test fails when this file and the code disagree).",
        "",
        "Every setting is an environment variable with the prefix `RECSYS_`. In code, settings are",
        "grouped by stage: a section's field is `RECSYS_<SECTION>_<FIELD>`, for example",
        "`settings.train.max_epochs` is `RECSYS_TRAIN_MAX_EPOCHS`. Lists and maps are JSON",
        '(`RECSYS_LOSS_WEIGHTS=\'{"interaction": 1, "rating": 0}\'`). A value that does not',
        "validate stops the command with one line naming the setting.",
    ]
    current: str | None = "?"
    for variable, section, field, info in environment_variables():
        if section != current:
            current = section
            title = TOP_LEVEL if section is None else f"`settings.{section}`"
            doc = Settings.__doc__ if section is None else SECTIONS[section].__doc__
            summary = (doc or "").strip().splitlines()[0]
            lines += ["", f"## {title}", "", summary, ""]
            lines += ["| variable | field | default | meaning |", "|---|---|---|---|"]
        name = field if section is None else f"{section}.{field}"
        lines.append(f"| `{variable}` | `{name}` | {_default(info)} | {_cell(info.description)} |")
    return "\n".join(lines) + "\n"
