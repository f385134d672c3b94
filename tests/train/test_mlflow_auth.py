"""A live MLflow server with basic authentication on 127.0.0.1 (the docker deployment's setup):
strangers get 401, a read-only user cannot move `champion`, the pipeline's service account
trains, registers and serves a night through it, and `forget` scrubs its proxied artifacts."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.core.run_date import resolve_run_date
from pipeline.privacy.artifacts import scrub_mlflow
from pipeline.serve.recommend import recommend
from pipeline.train.stage import train
from tests.conftest import Night, night_home
from tests.privacy.search import search_home
from tests.processes import free_port, start_group, stop_group, wait_until

pytestmark = pytest.mark.slow

MLFLOW = str(Path(sys.executable).parent / "mlflow")
ALIAS_API = "/api/2.0/mlflow/registered-models/alias"


@dataclass
class AuthServer:
    url: str
    admin: tuple[str, str]
    root: Path


def credentials(user: str, password: str) -> dict[str, str]:
    """What a client process sets to act as `user` (MLflow reads these at every request)."""
    return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    root = tmp_path_factory.mktemp("mlflow-auth")
    admin = ("admin", secrets.token_urlsafe(16))
    (root / "auth.ini").write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        f"admin_username = {admin[0]}\n"
        f"admin_password = {admin[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "auth.ini"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    process = start_group(
        [
            MLFLOW,
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env,
        root / "server.log",
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return process.poll() is None and False

    try:
        wait_until(healthy, 180, lambda: (root / "server.log").read_text()[-3000:])
        yield AuthServer(url, admin, root)
    finally:
        stop_group(process)


@pytest.fixture(scope="module")
def served_night(
    server: AuthServer, embedded_night: Night, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """The service account (an ordinary user, not an admin) trains and serves one night."""
    from mlflow.server import get_app_client

    patch = pytest.MonkeyPatch()  # restores the credentials when the module is done
    for key, value in credentials(*server.admin).items():
        patch.setenv(key, value)
    admin = get_app_client("basic-auth", tracking_uri=server.url)
    service = ("recsys", secrets.token_urlsafe(16))
    admin.create_user(*service)
    analyst = ("analyst", secrets.token_urlsafe(16))
    admin.create_user(*analyst)
    for key, value in credentials(*service).items():
        patch.setenv(key, value)
    try:
        settings = night_home(
            embedded_night,
            tmp_path_factory.mktemp("auth-night"),
            mlflow={"tracking_uri": server.url},
            train={"max_epochs": 4, "patience": 2},  # quick: the gate is what matters here
        )
        day = resolve_run_date(settings)
        trained = train(settings, day)
        served = recommend(settings, day, 10)
        yield {
            "settings": settings,
            "trained": trained,
            "served": served,
            "service": service,
            "analyst": analyst,
        }
    finally:
        patch.undo()


def test_anonymous_requests_get_401_and_cannot_move_champion(
    server: AuthServer, served_night: dict
) -> None:
    name = served_night["settings"].registered_model
    moved = requests.post(
        f"{server.url}{ALIAS_API}",
        json={"name": name, "alias": "champion", "version": "1"},
        timeout=30,
    )
    assert moved.status_code == 401
    listed = requests.get(f"{server.url}/api/2.0/mlflow/registered-models/search", timeout=30)
    assert listed.status_code == 401


def test_a_read_only_user_cannot_move_champion_the_service_account_can(
    server: AuthServer, served_night: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = served_night["settings"].registered_model
    version = served_night["trained"]["model_version"]
    for key, value in credentials(*served_night["analyst"]).items():
        monkeypatch.setenv(key, value)
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    assert client.get_model_version_by_alias(name, "champion").version == version  # may read
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
        client.set_registered_model_alias(name, "champion", version)
    for key, value in credentials(*served_night["service"]).items():
        monkeypatch.setenv(key, value)
    client.set_registered_model_alias(name, "champion", version)


def test_a_night_trains_registers_and_serves_with_the_service_account(
    served_night: dict,
) -> None:
    assert served_night["trained"]["alias"] == "champion"
    assert served_night["trained"]["tracking_uri"].startswith("http://127.0.0.1:")
    assert served_night["served"]["recommendations"] > 0


def test_forgets_artifact_scrub_works_through_the_servers_proxied_artifacts(
    server: AuthServer, served_night: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = served_night["settings"]
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    (victim,) = con.execute("select min(user_id) from marts.recommendations").fetchall()[0]
    con.close()
    assert search_home(server.root / "artifacts", [victim])  # the served bundle names them
    for key, value in credentials(*served_night["service"]).items():
        monkeypatch.setenv(key, value)
    # the MLflow step of `recsys forget` alone: the whole forget would also redact the shared
    # demo landing files this copied warehouse's ledger points at
    rewritten = scrub_mlflow(settings, [victim])
    assert rewritten and all(root.startswith("mlflow-artifacts:") for root in rewritten)
    assert search_home(server.root / "artifacts", [victim]) == []
