"""The night lock: one writer of a home at a time, whoever it is.

Every command that writes a home (`recsys run`, each stage, `forget`, `restore`, `champion
--set`, each task of the Airflow DAGs) holds the lock while it works. Two parts:

- `locks/night.lock`, an OS lock (`flock`) held by the working process: the kernel drops it when
  the process ends, however it ends, so a dead holder never blocks anyone;
- `locks/night.json`, the lease: who holds the night (owner, command, run date, pid, host,
  since when). A process's lease ends with it; an Airflow run's lease spans its tasks (another
  run's task cannot slip between two of them) and ends with the run's teardown task, or when
  Airflow says that run is no longer running.

A second writer waits up to `RECSYS_LOCK_WAIT_SECONDS`, then fails with one line naming the
holder. Re-entrant within a process: `recsys run` holds it once for all its stages.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.errors import RecsysError

log = logging.getLogger(__name__)

LOCK_FILE, LEASE_FILE = "night.lock", "night.json"
PROCESS, AIRFLOW = "process", "airflow"


@dataclass(frozen=True)
class Holder:
    """Who holds the night. `owner` is `process:<host>:<pid>` or `airflow:<dag>:<run id>`."""

    owner: str
    command: str
    run_date: str | None
    pid: int
    host: str
    since: str  # UTC, ISO 8601: when the owner took the night

    @property
    def kind(self) -> str:
        return self.owner.split(":", 1)[0]

    def describe(self) -> str:
        day = f" for run date {self.run_date}" if self.run_date else ""
        return f"`{self.command}`{day} (pid {self.pid} on {self.host}, since {self.since})"


def this_process(command: str, run_date: str | None = None, owner: str | None = None) -> Holder:
    host, pid = socket.gethostname(), os.getpid()
    return Holder(
        owner or f"{PROCESS}:{host}:{pid}",
        command,
        run_date,
        pid,
        host,
        datetime.now(UTC).isoformat(timespec="seconds"),  # audit metadata only
    )


class NightBusy(RecsysError):
    """Another writer holds the night."""


# what this process holds: lock path -> (file descriptor, holder, depth)
_HELD: dict[Path, tuple[int, Holder, int]] = {}


class NightLock:
    def __init__(self, home: Path) -> None:
        self.folder = home / "locks"
        self.lock_path, self.lease_path = self.folder / LOCK_FILE, self.folder / LEASE_FILE

    def lease(self) -> Holder | None:
        """The lease on file, or None (none, or unreadable: a torn write is no lease)."""
        try:
            return Holder(**json.loads(self.lease_path.read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def _write_lease(self, holder: Holder) -> None:
        tmp = self.lease_path.with_name(f".{LEASE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(holder)) + "\n", encoding="utf-8")
        os.replace(tmp, self.lease_path)  # a reader sees the old lease or the new, never half

    @contextlib.contextmanager
    def hold(
        self,
        me: Holder,
        *,
        wait_s: float = 0.0,
        keep_lease: bool = False,
        alive: Callable[[Holder], bool] | None = None,
    ) -> Iterator[Holder]:
        """Hold the night for `me` while the block runs. `keep_lease`: leave the lease on file
        afterwards (an Airflow task whose run goes on). `alive(lease)` says whether another
        owner's lease, found with no process working under it, still holds the night."""
        held = _HELD.get(self.lock_path)
        if held is not None:  # re-entrant: this process already works under the lock
            fd, holder, depth = held
            _HELD[self.lock_path] = (fd, holder, depth + 1)
            try:
                yield holder
            finally:
                fd, holder, depth = _HELD[self.lock_path]
                _HELD[self.lock_path] = (fd, holder, depth - 1)
            return
        fd, holder = self._acquire(me, wait_s, alive or still_running)
        _HELD[self.lock_path] = (fd, holder, 1)
        try:
            yield holder
        finally:
            del _HELD[self.lock_path]
            lease = self.lease()
            if not keep_lease and lease is not None and lease.owner == holder.owner:
                self.lease_path.unlink(missing_ok=True)
            os.close(fd)  # drops the OS lock

    def _acquire(
        self, me: Holder, wait_s: float, alive: Callable[[Holder], bool]
    ) -> tuple[int, Holder]:
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a process is working under the lock right now
                os.close(fd)
                blocker = self.lease()
            else:
                lease = self.lease()
                if lease is None or lease.owner == me.owner:
                    # an Airflow run's later task keeps the night's first `since`
                    holder = me if lease is None else replace(me, since=lease.since)
                    self._write_lease(holder)
                    return fd, holder
                if not alive(lease):
                    log.warning(
                        "night lock: taking over from %s (no longer running)", lease.describe()
                    )
                    self._write_lease(me)
                    return fd, me
                os.close(fd)
                blocker = lease
            if time.monotonic() >= deadline:
                raise NightBusy(busy_message(self, blocker))
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))

    def release(self, owner: str, wait_s: float = 60.0) -> Holder | None:
        """End `owner`'s lease (an Airflow run's teardown); return it, or None if not theirs."""
        with self._os_lock(wait_s) as lease:
            if lease is None or lease.owner != owner:
                return None
            self.lease_path.unlink(missing_ok=True)
            return lease

    def unlock(self) -> Holder | None:
        """`recsys unlock`: end a lease that no process works under; refuse while one does."""
        with self._os_lock(0.0, busy="; a process is working under it now: not unlocked") as lease:
            self.lease_path.unlink(missing_ok=True)
            return lease

    @contextlib.contextmanager
    def _os_lock(self, wait_s: float, busy: str = "") -> Iterator[Holder | None]:
        """The OS lock alone, for a moment: yields the lease on file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise NightBusy(busy_message(self, self.lease()) + busy) from None
                    time.sleep(0.2)
            yield self.lease()
        finally:
            os.close(fd)


def busy_message(lock: NightLock, holder: Holder | None) -> str:
    who = holder.describe() if holder is not None else "a process (no lease on file yet)"
    hint = "wait for it to finish, or raise RECSYS_LOCK_WAIT_SECONDS to queue behind it"
    if holder is not None and holder.kind == AIRFLOW:
        hint += "; if that Airflow run is no longer running, `recsys unlock` ends its lease"
    return f"the home {lock.folder.parent} is busy: {who} holds the night lock; {hint}"


def still_running(lease: Holder) -> bool:
    """Whether a lease found with no process working under it still holds the night: a process
    on this host that holds no OS lock is gone; one on another host, or an Airflow run, cannot be
    checked from here (the DAG's tasks pass Airflow's own answer)."""
    return not (lease.kind == PROCESS and lease.host == socket.gethostname())
