"""Servers the live tests start: a free port, a process group of their own, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_group(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `argv` in a process group of its own (stopped with its children), output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def run_group(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> int:
    """Run `argv` in a group of its own to its end (a killed one included), then kill what its
    children left running, as a worker does with a dead task: nothing of it may write on."""
    process = start_group(argv, env, log, cwd)
    code = process.wait(timeout=900)
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
        while group_alive(process.pid):  # gone, not just signalled
            time.sleep(0.2)
    return code


def wait_until(ready: Callable[[], bool], timeout_s: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, why()
        time.sleep(1)


def stop_group(process: subprocess.Popen, timeout_s: float = 60) -> None:
    """SIGTERM the group, SIGKILL it if it lingers; then check no member is left."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + timeout_s
    while group_alive(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            time.sleep(1)
            assert not group_alive(process.pid), f"process group {process.pid} left behind"
            return
        time.sleep(0.5)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def spark_class() -> str:
    """Spark's launcher of its daemons, as shipped in the pyspark package."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def start_spark_standalone(
    root: Path, env: dict[str, str], *, workers: int = 1, cores: int = 2, memory: str = "3g"
) -> tuple[str, str, list[subprocess.Popen]]:
    """A standalone master and `workers` workers on 127.0.0.1 (as the docker deployment starts
    them), each in a process group of its own; returns the master URL and its web UI's once
    every worker has registered, and the processes (stop them with `stop_group`, workers
    first)."""
    import json
    import urllib.request

    import pyspark

    root.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    env = {
        **env,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_WORKER_DIR": str(root / "work"),
    }
    master = start_group(
        [spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(ui)],
        env,
        root / "master.log",
    )  # fmt: skip
    processes = [master]
    for n in range(workers):
        processes.append(
            start_group(
                [spark_class(), "org.apache.spark.deploy.worker.Worker", "--cores", str(cores),
                 "--memory", memory, "--webui-port", str(free_port()),
                 f"spark://127.0.0.1:{port}"],
                env,
                root / f"worker-{n + 1}.log",
            )
        )  # fmt: skip

    def registered() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as answer:
                return json.load(answer).get("aliveworkers") == workers
        except (OSError, ValueError):
            return False

    def logs() -> str:
        return "\n".join(log.read_text()[-2000:] for log in sorted(root.glob("*.log")))

    try:
        wait_until(registered, 180, logs)
    except BaseException:
        for process in reversed(processes):
            stop_group(process)
        raise
    return f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", processes
