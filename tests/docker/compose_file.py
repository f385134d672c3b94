"""Reading docker/ the way Docker Compose and BuildKit do, without a Docker engine.

Compose interpolates `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
`${VAR?error}`, `${VAR:+alternative}` (nested too) and `$$` in every value after YAML parsing;
`interpolate` does the same, so the tests see the values a container would get.
`test_compose.py` checks this reading against `docker compose config` where one is installed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILES = (DOCKER / "Dockerfile", DOCKER / "Dockerfile.gpu")
IMAGE_ROOT = "/opt/recsys"  # WORKDIR of both images: the repository's files lie under it

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset: compose refuses the file."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines; comments and blank lines skipped (the subset .env.example may use)."""
    env = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(_NAME, key):
            raise ValueError(f"{path.name}:{number}: not KEY=value: {line!r}")
        env[key] = value
    return env


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
        elif match := re.match(_NAME, text[i + 1 :]):
            out.append(env.get(match.group(), ""))
            i += 1 + match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text.startswith("${", i):
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unclosed ${{ in {text!r}")


def _expand(body: str, env: Mapping[str, str]) -> str:
    match = re.fullmatch(rf"({_NAME})(?:(:?[-?+])(.*))?", body, re.DOTALL)
    if not match:
        raise ValueError(f"not a compose variable: ${{{body}}}")
    name, op, arg = match.groups()
    value = env.get(name)
    if op is None:
        return value or ""
    present = bool(value) if op.startswith(":") else value is not None
    kind = op[-1]
    if kind == "-":
        return value if present else interpolate(arg, env)  # type: ignore[return-value]
    if kind == "?":
        if not present:
            raise MissingVariable(f"{name}: {arg}")
        return value  # type: ignore[return-value]
    return interpolate(arg, env) if present else ""


def referenced_variables(text: str) -> set[str]:
    """Every variable a compose file interpolates (`$$` is a literal dollar, not a variable)."""
    text = text.replace("$$", "")
    return set(re.findall(rf"\$\{{({_NAME})", text)) | set(re.findall(rf"\$({_NAME})", text))


def variable_defaults(text: str) -> dict[str, str]:
    """`${VAR:-default}` and `${VAR-default}` defaults (not nested ones)."""
    return dict(re.findall(rf"\$\{{({_NAME}):?-([^{{}}$]*)\}}", text.replace("$$", "")))


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every value (not keys, as compose does) of a parsed compose file."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, env) for value in node]
    return node


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    return resolve(yaml.safe_load(COMPOSE.read_text()), env)


def compose_values() -> str:
    """Every string value of compose.yaml, raw, one per line: what compose interpolates (its
    comments are not)."""

    def strings(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [s for value in node.values() for s in strings(value)]
        if isinstance(node, list):
            return [s for value in node for s in strings(value)]
        return []

    return "\n".join(strings(yaml.safe_load(COMPOSE.read_text())))


def words(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def option(command: str | list[str], flag: str) -> str:
    """The value after `flag` in a command (`--port 5000`)."""
    argv = words(command)
    return argv[argv.index(flag) + 1]


def java_properties(opts: str) -> dict[str, str]:
    """`-Dkey=value` pairs of a JVM options string (SPARK_WORKER_OPTS)."""
    return dict(word[2:].split("=", 1) for word in shlex.split(opts) if word.startswith("-D"))


def memory_bytes(size: str) -> int:
    """A JVM memory size (`512m`, `8g`) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kmgt]?)b?", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** "bkmgt".index(unit or "b")


def repo_path(image_path: str) -> Path:
    """The repository file that the images copy to `image_path` (under /opt/recsys)."""
    assert image_path.startswith(IMAGE_ROOT + "/"), image_path
    return PROJECT_ROOT / image_path.removeprefix(IMAGE_ROOT + "/")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and parser directives dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return instructions


def dockerfile_env(path: Path) -> dict[str, str]:
    env = {}
    for instruction in dockerfile_instructions(path):
        if instruction.keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(instruction.args))
    return env


def copy_sources(path: Path) -> list[str]:
    """Sources of every COPY from the build context (not from another stage)."""
    sources = []
    for instruction in dockerfile_instructions(path):
        if instruction.keyword == "COPY" and "--from=" not in instruction.args:
            sources += [
                word for word in shlex.split(instruction.args) if not word.startswith("--")
            ][:-1]
    return sources


def dockerignored(ignore_file: Path, path: str) -> bool:
    """Whether BuildKit leaves `path` (relative to the context) out: the last match decides; a
    pattern matching a parent folder matches everything in it."""
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        if any(
            fnmatch(candidate, pattern) or fnmatch(candidate, pattern.removeprefix("**/"))
            for candidate in candidates
        ):
            ignored = not negated
    return ignored
