"""`agentmesh dev`: the embedded all-in-one process, its demo, crash recovery and bad configuration."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmesh.config import Settings
from agentmesh.domain.task import TaskStatus
from agentmesh.mesh import all_with_status
from agentmesh.store import create_store
from tests.acceptance.test_cli import one_line_error
from tests.acceptance.test_distributed import wait_quiet
from tests.invariants import check_all, collect
from tests.procs import Processes, cli_argv, run_cli, settings_env
from tests.servers import free_port


def dev_env(db: Path, **extra: str) -> dict[str, str]:
    env = settings_env(Settings(db_dsn=f"sqlite:///{db}"), **extra)
    env.pop("REDIS_URL", None)
    return env


def start_dev(procs: Processes, env: dict[str, str], *args: str) -> str:
    port = free_port()
    process = procs.spawn(["dev", "--port", str(port), *args], env, "dev")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, procs.logs()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"dev did not start: {procs.logs()}")


async def all_tasks(settings: Settings) -> tuple[Any, list[uuid.UUID]]:
    store = create_store(settings)
    await store.open()
    try:
        ids = [t.id for status in TaskStatus for t in await all_with_status(store, status)]
        return await collect(store, ids), ids
    finally:
        await store.close()


def test_demo_settles_and_serves_results(tmp_path: Path, procs: Processes) -> None:
    url = start_dev(procs, dev_env(tmp_path / "mesh.db"), "--demo")
    counts = wait_quiet(url, 75, timeout=90)
    assert counts["COMPLETED"] > 0 and counts["PERMANENT_FAILURE"] > 0
    task = httpx.get(f"{url}/tasks", params={"status": "COMPLETED", "limit": 1}).json()["items"][0]
    assert task["result"]["agent"] == task["agent_type"]
    retried = [t for t in httpx.get(f"{url}/tasks", params={"limit": 100}).json()["items"] if t["retry_count"]]
    assert retried, "the demo includes tasks that fail and retry"


def test_sigkill_mid_demo_then_restart_loses_nothing(tmp_path: Path, procs: Processes) -> None:
    db = tmp_path / "mesh.db"
    env = dev_env(db, AGENTMESH_BACKOFF_BASE="1.2", AGENTMESH_LEASE_SECONDS="60")
    url = start_dev(procs, env, "--demo", "--concurrency", "3")
    deadline = time.monotonic() + 30
    while True:  # kill while work is under way: some finished, some running
        counts = httpx.get(f"{url}/queues").json()["by_status"]
        if counts["COMPLETED"] >= 5 and counts["RUNNING"] > 0:
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.05)
    first = procs.children[-1][0]
    first.send_signal(signal.SIGKILL)
    first.wait()
    interrupted = counts["RUNNING"]

    url = start_dev(procs, env)  # no --demo: only what was submitted before the kill
    wait_quiet(url, 75, timeout=90)
    report, ids = asyncio.run(all_tasks(Settings(db_dsn=f"sqlite:///{db}")))
    assert len(ids) == 60 + 3 * 5  # the single tasks, and three squad pipelines of five steps each
    assert check_all(report) == []  # every task terminal, none completed twice, counts match the log
    orphan_failures = [
        e for events in report.events.values() for e in events if e.detail and "process was restarted" in e.detail
    ]
    assert len(orphan_failures) >= min(interrupted, 1)


def test_dev_against_postgres_and_redis(settings: Settings, procs: Processes) -> None:
    url = start_dev(procs, settings_env(settings))
    created = httpx.post(f"{url}/tasks", json={"agent_type": "CEDRIC_WRITER", "payload": {}}).json()
    wait_quiet(url, 1, timeout=30)
    assert httpx.get(f"{url}/tasks/{created['id']}").json()["status"] == "COMPLETED"
    assert httpx.get(f"{url}/readyz").json() == {"status": "ok", "store": "ok", "broker": "ok"}


def test_bad_configuration_of_dev_is_one_line(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "mesh.db", AGENTMESH_PORT=str(free_port()))
    one_line_error(run_cli(["dev"], {**env, "DB_DSN": "mysql://root@localhost/mesh"}), "DB_DSN", "mysql")
    one_line_error(run_cli(["dev"], {**env, "REDIS_ADDR": f"127.0.0.1:{free_port()}"}), "Redis", "unavailable")
    one_line_error(run_cli(["dev"], {**env, "DB_DSN": f"sqlite:///{tmp_path}/no/such/dir/x.db"}), "SQLite")


def test_read_only_sqlite_file_is_one_line(tmp_path: Path) -> None:
    """As root file modes are ignored, so the command runs as an unprivileged user."""
    db = tmp_path / "ro.db"
    db.touch(mode=0o444)
    env = dev_env(db, AGENTMESH_PORT=str(free_port()))
    command = ["dev"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv is needed to drop root")
        os.chmod(tmp_path, 0o755)
        prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        result = subprocess.run(
            [*prefix, *cli_argv(command)], env=env, capture_output=True, text=True, timeout=60
        )
    else:
        result = run_cli(command, env)
    one_line_error(result, "SQLite", str(db))
