"""docker/compose.yaml and .env.example, checked without a Docker engine: the services, volumes,
files and variables they name exist and agree with `Settings`, and the environment compose gives
the Airflow workers takes the embed job and the trainer to the compose Spark master and MLflow.
Nothing here starts a container."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.settings_reference import environment_variables
from pipeline.embed.spark_submit import spark_job
from pipeline.train.registry import tracking_uri

from .compose_file import (
    COMPOSE,
    DOCKER,
    DOCKERFILES,
    ENV_EXAMPLE,
    MissingVariable,
    compose_values,
    dockerfile_env,
    java_properties,
    load_compose,
    memory_bytes,
    option,
    read_env_file,
    referenced_variables,
    repo_path,
    variable_defaults,
    words,
)

SERVICES = {
    "mlflow-init",
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-worker-gpu",
    "spark-master",
    "spark-worker-gpu",
    "mlflow",
}
AIRFLOW = sorted(name for name in SERVICES if name.startswith("airflow-"))
GPU_SERVICES = {"airflow-worker-gpu", "spark-worker-gpu"}
SECRET = re.compile(r"PASSWORD|SECRET|FERNET")
EXAMPLE_MARK = "change-me-example-only"


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def secrets_only(example: dict[str, str]) -> dict[str, str]:
    """The least a docker/.env can hold: the secrets, every other value left to compose."""
    return {key: value for key, value in example.items() if SECRET.search(key)}


@pytest.fixture(scope="module")
def compose(example: dict[str, str]) -> dict:
    return load_compose(example)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def recsys_env(service: dict) -> dict[str, str]:
    """What the pipeline reads of a service's environment: RECSYS_* and Spark's secret."""
    return {
        k: str(v)
        for k, v in service.get("environment", {}).items()
        if k.startswith("RECSYS_") or k == "_SPARK_AUTH_SECRET"
    }


def settings_under(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Settings() in a process whose RECSYS_* variables are exactly `env`."""
    for key in list(os.environ):
        if key.startswith("RECSYS_") or key == "_SPARK_AUTH_SECRET":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def spark_master_of(command: list[str]) -> str:
    return command[command.index("--master") + 1]


def spark_confs(command: list[str]) -> dict[str, str]:
    return dict(command[i + 1].split("=", 1) for i, w in enumerate(command) if w == "--conf")


def published_container_ports(service: dict) -> set[int]:
    return {int(str(port).rsplit(":", 1)[-1]) for port in service.get("ports", [])}


# --- the file and its variables ------------------------------------------------------------------


def test_compose_has_every_service_and_declares_its_volumes(compose: dict) -> None:
    assert set(compose["services"]) == SERVICES
    used = {
        mount.split(":", 1)[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
        if not mount.startswith((".", "/"))
    }
    assert used == set(compose["volumes"]), "every named volume declared, every declared one used"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(MissingVariable, match=r"set [A-Z_]+(PASSWORD|SECRET)\w* in docker/.env"):
        load_compose({})


def test_every_variable_compose_reads_is_in_env_example(example: dict[str, str]) -> None:
    referenced = referenced_variables(compose_values())
    assert referenced - set(example) == set(), "undocumented: add them to docker/.env.example"
    # COMPOSE_PROFILES is read by compose itself, not interpolated into the file
    assert set(example) - referenced - {"COMPOSE_PROFILES"} == set(), "stale .env.example keys"


def test_env_example_documents_every_line_and_matches_the_defaults(
    example: dict[str, str],
) -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"
            assert not re.search(r"""['"]|\s#""", line), f"quotes or a comment in {line!r}"
    # .env.example shows the values compose uses when docker/.env leaves a variable out
    for name, default in variable_defaults(compose_values()).items():
        assert example[name] == default, f"{name}: compose default {default!r}"


def test_secrets_have_no_default_and_their_examples_are_flagged(example: dict[str, str]) -> None:
    text = compose_values()
    secrets = [key for key in example if SECRET.search(key)]
    assert len(secrets) >= 5
    for key in secrets:
        assert EXAMPLE_MARK in example[key], f"{key}'s example value must say it is an example"
        uses = re.findall(rf"\$\{{{key}([^}}]*)\}}", text)
        assert uses, key
        assert all(use.startswith(":?") for use in uses), f"{key} must be required, no default"
    assert EXAMPLE_MARK not in text
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(DOCKER / ".env")], cwd=PROJECT_ROOT, check=False
    )
    assert ignored.returncode == 0, "docker/.env (the real secrets) must be git-ignored"


def test_example_fernet_key_is_a_valid_key(example: dict[str, str]) -> None:
    from cryptography.fernet import Fernet

    Fernet(example["AIRFLOW_FERNET_KEY"])  # Airflow would refuse to start on a malformed one


def test_every_recsys_variable_is_a_settings_field(
    services: dict[str, dict], example: dict[str, str]
) -> None:
    assert Settings.model_config["env_prefix"] == "RECSYS_"
    keys = set(example) | referenced_variables(compose_values())
    keys |= {key for service in services.values() for key in service.get("environment", {})}
    recsys = {key for key in keys if key.startswith("RECSYS_")}
    assert {"RECSYS_HOME", "RECSYS_SPARK_MASTER", "RECSYS_MLFLOW_TRACKING_URI"} <= recsys
    known = {variable for variable, *_ in environment_variables()}
    unknown = recsys - known
    assert unknown == set(), "not Settings fields: the pipeline would ignore them"


@pytest.mark.parametrize("name", ["airflow-scheduler", "airflow-worker", "airflow-worker-gpu"])
def test_settings_accept_the_compose_environment(
    services: dict[str, dict], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_under(monkeypatch, recsys_env(services[name]))  # validates every value
    assert settings.home == Path("/srv/recsys")


# --- the must-show: environment alone moves the pipeline onto the services ----------------------


def test_without_compose_the_embedded_defaults_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_under(monkeypatch, {"RECSYS_HOME": str(tmp_path)})
    command = spark_job(settings, tmp_path / "r.parquet", tmp_path / "v", "m").command()
    assert spark_master_of(command) == "local[*]"
    assert "spark.executor.resource.gpu.amount" not in spark_confs(command)
    assert tracking_uri(settings) == f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.parametrize("source", ["compose defaults", ".env.example"])
def test_compose_spark_master_and_mlflow_uri_reach_the_embed_job_and_trainer(
    source: str,
    example: dict[str, str],
    secrets_only: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = load_compose(secrets_only if source == "compose defaults" else example)["services"]
    settings = settings_under(monkeypatch, recsys_env(services["airflow-worker-gpu"]))

    command = spark_job(settings, tmp_path / "r.parquet", tmp_path / "v", "m").command()
    master = urlparse(spark_master_of(command))
    assert (master.scheme, master.hostname, master.port) == ("spark", "spark-master", 7077)
    spark = services[master.hostname]
    assert master.port in spark["expose"]
    assert option(spark["command"], "--port") == str(master.port)
    assert option(spark["command"], "--host") == spark["hostname"] == master.hostname
    confs = spark_confs(command)
    assert confs["spark.executor.resource.gpu.amount"] == "1"
    assert confs["spark.task.resource.gpu.amount"] == "1.0"

    mlflow = urlparse(tracking_uri(settings))
    assert (mlflow.scheme, mlflow.hostname, mlflow.port) == ("http", "mlflow", 5000)
    server = services[mlflow.hostname]
    assert words(server["command"])[:2] == ["mlflow", "server"]
    assert option(server["command"], "--port") == str(mlflow.port)
    assert option(server["command"], "--host") == "0.0.0.0"
    # the trainer's artifacts go through that server (its own mlflow-artifacts:/<experiment id>
    # root, which its basic auth maps to permissions), which serves them from its volume
    assert not settings.mlflow.artifact_root
    assert option(server["command"], "--app-name") == "basic-auth"
    assert "--serve-artifacts" in words(server["command"])
    # tasks sign in as the service account; the driver joins the authenticated Spark cluster
    worker_env = services["airflow-worker-gpu"]["environment"]
    assert worker_env["MLFLOW_TRACKING_USERNAME"] == "recsys"
    assert worker_env["MLFLOW_TRACKING_PASSWORD"]
    assert confs["spark.authenticate"] == confs["spark.network.crypto.enabled"] == "true"
    for name in ("spark-master", "spark-worker-gpu"):
        env = services[name]["environment"]
        assert env["_SPARK_AUTH_SECRET"] == worker_env["_SPARK_AUTH_SECRET"]
        opts = java_properties(env.get("SPARK_MASTER_OPTS") or env["SPARK_WORKER_OPTS"])
        assert opts["spark.authenticate"] == opts["spark.network.crypto.enabled"] == "true"
    destination = option(server["command"], "--artifacts-destination")
    assert any(mount.endswith(f":{destination}") for mount in server["volumes"])


def test_an_existing_spark_cluster_and_mlflow_server_are_environment_only(
    secrets_only: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **secrets_only,
        "RECSYS_SPARK_MASTER": "spark://spark.corp.example:7077",
        "RECSYS_MLFLOW_TRACKING_URI": "https://mlflow.corp.example",
    }
    for name in ("airflow-worker", "airflow-worker-gpu"):
        service = load_compose(env)["services"][name]
        settings = settings_under(monkeypatch, recsys_env(service))
        command = spark_job(settings, tmp_path / "r.parquet", tmp_path / "v", "m").command()
        assert spark_master_of(command) == "spark://spark.corp.example:7077"
        assert tracking_uri(settings) == "https://mlflow.corp.example"
        connection = json.loads(service["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"])
        assert connection["host"] == "spark://spark.corp.example:7077"
        # the local Spark and MLflow services are then left out (their profiles dropped)
        for optional in ("mlflow", "spark-master"):
            if optional in service["depends_on"]:
                assert service["depends_on"][optional]["required"] is False


def test_airflow_spark_connection_resolves_to_the_same_master(
    services: dict[str, dict], tmp_path: Path
) -> None:
    """Airflow's own SparkSubmitHook reads the connection compose defines (in a subprocess:
    Airflow keeps its configuration per process)."""
    env = services["airflow-worker-gpu"]["environment"]
    script = (
        "from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook\n"
        "print(SparkSubmitHook(conn_id='spark_default')._connection['master'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW_CONN_SPARK_DEFAULT": env["AIRFLOW_CONN_SPARK_DEFAULT"],
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == env["RECSYS_SPARK_MASTER"]


# --- Airflow -----------------------------------------------------------------------------------


def test_airflow_services_share_the_common_block(services: dict[str, dict]) -> None:
    common = yaml.safe_load(COMPOSE.read_text())["x-airflow-common"]["environment"]
    for name in AIRFLOW:
        env = services[name]["environment"]
        assert set(common) <= set(env), name
        # one key and one database for every Airflow process: tokens signed by one are valid
        for key in (
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        ):
            assert env[key] == services["airflow-scheduler"]["environment"][key], (name, key)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert (
            services[name]["image"]
            == services[
                "airflow-worker-gpu" if name == "airflow-worker-gpu" else "airflow-scheduler"
            ]["image"]
        )


def test_airflow_3_components_and_queues(services: dict[str, dict]) -> None:
    def argv(name: str) -> list[str]:
        return words(services[name]["command"])

    assert argv("airflow-apiserver")[:2] == ["airflow", "api-server"]
    assert argv("airflow-scheduler") == ["airflow", "scheduler"]
    assert argv("airflow-dag-processor") == ["airflow", "dag-processor"]
    assert argv("airflow-worker")[:3] == ["airflow", "celery", "worker"]
    assert option(argv("airflow-worker"), "--queues") == "default"
    gpu_queue = option(argv("airflow-worker-gpu"), "--queues")
    assert gpu_queue == Settings().airflow.gpu_queue == "gpu"  # the queue the DAG's GPU tasks use
    assert services["airflow-worker-gpu"]["environment"]["RECSYS_AIRFLOW_GPU_QUEUE"] == gpu_queue
    # task processes reach the api-server by its compose name and port
    url = urlparse(
        services["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    )
    assert url.hostname == "airflow-apiserver"
    assert url.port == int(option(argv("airflow-apiserver"), "--port"))
    assert url.port in published_container_ports(services["airflow-apiserver"])
    broker = urlparse(services["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.hostname == "redis" and broker.port in services["redis"]["expose"]
    database = urlparse(
        services["airflow-worker"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert database.hostname == "postgres"


def test_airflow_init_migrates_then_creates_the_pools(services: dict[str, dict]) -> None:
    script = services["airflow-init"]["command"][-1]
    assert script.index("airflow db migrate") < script.index("recsys airflow-setup")
    result = CliRunner().invoke(app, ["airflow-setup", "--help"])
    assert result.exit_code == 0, result.output
    # the admin's password file it writes is the one the api-server's SimpleAuthManager reads
    path = services["airflow-init"]["environment"][
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    ]
    for name in ("airflow-init", "airflow-apiserver"):
        assert any(
            Path(path).parent == Path(mount.split(":")[1]) for mount in services[name]["volumes"]
        ), name


def test_dags_folder_is_the_projects(services: dict[str, dict]) -> None:
    for dockerfile in DOCKERFILES:
        folder = dockerfile_env(dockerfile)["AIRFLOW__CORE__DAGS_FOLDER"]
        assert (repo_path(folder) / "recsys_nightly.py").is_file(), dockerfile.name


# --- dependencies and health ---------------------------------------------------------------------


def test_depends_on_targets_exist_and_can_be_waited_for(services: dict[str, dict]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        if name not in ("airflow-init", "mlflow-init"):  # one-shot: they exit when done
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, (name, target)
            assert spec["condition"] in conditions, (name, target)
            if spec["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), (name, target)
            if spec["condition"] == "service_completed_successfully":
                assert "restart" not in services[target], f"{target} must run once and exit"
            # a dependency in a profile this service is not in may be switched off
            if set(services[target].get("profiles", [])) - set(service.get("profiles", [])):
                assert spec.get("required") is False, (name, target)


def test_gpu_services_reserve_nvidia_devices(services: dict[str, dict]) -> None:
    for name, service in services.items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        devices = devices.get("devices", [])
        if name in GPU_SERVICES:
            assert service["build"]["dockerfile"] == "docker/Dockerfile.gpu", name
            assert [d["driver"] for d in devices] == ["nvidia"], name
            assert "gpu" in devices[0]["capabilities"] and int(devices[0]["count"]) >= 1, name
        else:
            assert not devices, f"{name} reserves a GPU"
            assert service.get("build", {}).get("dockerfile") in (None, "docker/Dockerfile"), name


def test_spark_gpu_worker_offers_what_the_executors_ask_for(services: dict[str, dict]) -> None:
    worker = services["spark-worker-gpu"]
    props = java_properties(worker["environment"]["SPARK_WORKER_OPTS"])
    gpus = int(props["spark.worker.resource.gpu.amount"])
    assert gpus == int(worker["deploy"]["resources"]["reservations"]["devices"][0]["count"])
    script = repo_path(props["spark.worker.resource.gpu.discoveryScript"])
    assert script.is_file() and os.access(script, os.X_OK), script
    argv = words(worker["command"])
    assert argv[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    master = services["spark-master"]
    assert argv[-1] == f"spark://{master['hostname']}:{option(master['command'], '--port')}"
    # what one executor asks (RECSYS_SPARK_*) fits in what one worker offers
    env = services["airflow-worker-gpu"]["environment"]
    assert 0 < int(env["RECSYS_SPARK_EXECUTOR_GPUS"]) <= gpus
    assert float(env["RECSYS_SPARK_TASK_GPUS"]) <= int(env["RECSYS_SPARK_EXECUTOR_GPUS"])
    worker_memory = memory_bytes(worker["environment"]["SPARK_WORKER_MEMORY"])
    assert memory_bytes(env["RECSYS_SPARK_EXECUTOR_MEMORY"]) <= worker_memory


def test_recsys_home_is_one_shared_volume(services: dict[str, dict]) -> None:
    home = services["airflow-worker"]["environment"]["RECSYS_HOME"]
    for name, service in services.items():
        if name in AIRFLOW or name == "spark-worker-gpu":  # executors read and write under it
            assert f"recsys-home:{home}" in service["volumes"], name
        if "RECSYS_HOME" in service.get("environment", {}):
            assert service["environment"]["RECSYS_HOME"] == home, name
    for dockerfile in DOCKERFILES:  # the images own that folder: a new volume takes it over
        assert dockerfile_env(dockerfile)["RECSYS_HOME"] == home
        assert home in dockerfile.read_text().split("mkdir -p", 1)[1].split("\n", 1)[0]


def test_build_contexts_and_mounted_files_exist(services: dict[str, dict]) -> None:
    for name, service in services.items():
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context == PROJECT_ROOT, name
            dockerfile = context / service["build"]["dockerfile"]
            assert dockerfile.is_file(), name
            assert dockerfile.with_name(dockerfile.name + ".dockerignore").is_file(), name
        else:
            assert "image" in service, name
        for mount in service.get("volumes", []):
            if mount.startswith("."):
                source = DOCKER / mount.split(":", 1)[0]
                assert source.is_file(), (name, source)
                if mount.split(":")[1].startswith("/docker-entrypoint-initdb.d/"):
                    assert os.access(source, os.X_OK), f"{source} must be executable"


def test_published_ports_match_what_the_services_listen_on(services: dict[str, dict]) -> None:
    assert published_container_ports(services["mlflow"]) == {
        int(option(services["mlflow"]["command"], "--port"))
    }
    assert published_container_ports(services["spark-master"]) == {
        int(option(services["spark-master"]["command"], "--webui-port"))
    }
    for name in ("airflow-worker", "airflow-worker-gpu", "spark-worker-gpu"):
        assert "ports" not in services[name], f"{name} must scale: no fixed host port"
        assert "container_name" not in services[name], name


# --- the real parser, where one is installed ---------------------------------------------------


def compose_cli() -> list[str] | None:
    """`docker compose` (the plugin) or a v2 `docker-compose`; None when neither is here."""
    for candidate in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(candidate[0]):
            continue
        version = subprocess.run(
            [*candidate, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return candidate
    return None


@pytest.mark.parametrize("profiles", ["spark,mlflow", "spark", "mlflow", ""])
def test_docker_compose_config_accepts_the_file(
    profiles: str, example: dict[str, str], tmp_path: Path
) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 here (neither `docker compose` nor `docker-compose`)")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "--format", "json"],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COMPOSE_PROFILES": profiles},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    left_out = {"spark-master", "spark-worker-gpu"} if "spark" not in profiles else set()
    left_out |= {"mlflow"} if "mlflow" not in profiles else set()
    assert set(config["services"]) == SERVICES - left_out
    # the reading these tests rely on is the one compose itself makes
    ours = load_compose(example)["services"]
    for name, service in config["services"].items():
        assert service["image"] == ours[name]["image"], name
        command = words(ours[name]["command"]) if "command" in ours[name] else None
        assert service.get("command") == command, name
        env = {key: str(value) for key, value in ours[name].get("environment", {}).items()}
        assert service.get("environment", {}) == env, name
