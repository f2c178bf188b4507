"""Throwaway PostgreSQL and Redis servers for the suite.

Each runs from the machine's binaries in a temporary directory on a free port, so tests
never touch a server someone else runs, and chaos tests can kill and restart them.
PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The binaries are missing or the server did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"server did not listen on {port} within {timeout}s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or (
        [shutil.which(name)] if shutil.which(name) else []
    )
    if not found:
        raise ServerUnavailable(f"PostgreSQL binary {name!r} not found")
    return str(found[-1])


class PostgresServer:
    """A private PostgreSQL cluster; `kill()` and `start()` simulate an outage."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="agentmesh-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.fsync = fsync
        self.process: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, user=self._user,
        )  # fmt: skip

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    _pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if self.fsync else 'off'}",
                    "-c", "max_connections=300", "-c", "shared_buffers=128MB",
                    "-c", f"synchronous_commit={'on' if self.fsync else 'off'}",
                ],
                stdout=log, stderr=subprocess.STDOUT, user=self._user, start_new_session=True,
            )  # fmt: skip
        _wait_for_port(self.port, 30, self.process, self.log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.05)
        raise ServerUnavailable("PostgreSQL did not become ready")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1", "-tAc", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()

    def kill(self) -> None:
        """SIGKILL the postmaster and its children: the crash a power cut would cause."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A private Redis without persistence: a restart loses everything, as in production mishaps."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServerUnavailable("redis-server not found")
        self.root = Path(tempfile.mkdtemp(prefix="agentmesh-redis-"))
        self.log = self.root / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.root), "--maxclients", "2000"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait_for_port(self.port, 15, self.process, self.log)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
