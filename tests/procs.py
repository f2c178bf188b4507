"""Real `agentmesh` processes for acceptance tests: started, signalled, and always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from agentmesh.config import Settings
from tests.servers import free_port


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a child process needs to join the mesh described by `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AGENTMESH_", "DB_", "REDIS_"))}
    env.update(
        DB_DSN=settings.db_dsn,
        AGENTMESH_REDIS_PREFIX=settings.redis_prefix,
        AGENTMESH_BACKOFF_BASE=str(settings.backoff_base),
        AGENTMESH_BACKOFF_JITTER=str(settings.backoff_jitter),
        AGENTMESH_LEASE_SECONDS=str(settings.lease_seconds),
        AGENTMESH_SHUTDOWN_GRACE=str(settings.shutdown_grace),
        AGENTMESH_RECONCILE_SECONDS=str(settings.reconcile_seconds),
        AGENTMESH_RECONCILE_GRACE=str(settings.reconcile_grace),
        PYTHONUNBUFFERED="1",
    )
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


class Processes:
    """Children of one test; `close()` kills whatever is left and keeps their logs for failures."""

    def __init__(self) -> None:
        self.children: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.logdir = Path(tempfile.mkdtemp(prefix="agentmesh-procs-"))

    def spawn(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{name}-{len(self.children)}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                cli_argv(args), env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        self.children.append((process, log))
        return process

    def api(self, settings: Settings, options: tuple[str, ...] = (), **extra: str) -> str:
        """Start `agentmesh api [options]` and return its base URL once /healthz answers."""
        port = free_port()
        process = self.spawn(["api", "--port", str(port), *options], settings_env(settings, **extra), "api")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"api exited: {self.logs()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"api did not start: {self.logs()}")

    def worker(self, settings: Settings, concurrency: int = 5, **extra: str) -> subprocess.Popen[bytes]:
        return self.spawn(["worker", "--concurrency", str(concurrency)], settings_env(settings, **extra), "worker")

    def pids(self, name: str = "") -> list[int]:
        """Running children whose name starts with `name` ("api", "worker", …)."""
        return [process.pid for process, log in self.children if process.poll() is None and log.name.startswith(name)]

    def alive(self) -> bool:
        """Every child started is still running."""
        return all(process.poll() is None for process, _ in self.children)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for _, log in self.children)

    def close(self) -> None:
        for process, _ in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process, _ in self.children:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cli_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "agentmesh", *args]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(args), env=env, capture_output=True, text=True, timeout=timeout)
