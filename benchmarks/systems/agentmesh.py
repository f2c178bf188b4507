"""AgentMesh in distributed mode, started with its own CLI: migrate, one `api` process, 2 `worker` processes.

Producers go through the HTTP API like a real client (a 201 means committed to PostgreSQL); completion is
counted as COMPLETED rows in PostgreSQL, the same record a user would trust. The producer is aiohttp: httpx
spends ~2 ms of CPU per request in its pool on this machine, which would measure the client, not the mesh.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import aiohttp
from tests.servers import free_port

from benchmarks.agentmesh_agents import AGENT_TYPE
from benchmarks.env import REPO_ROOT, BenchEnv, venv_bin
from benchmarks.systems.base import ASYNC_CLIENTS, AsyncProducer, DatabaseBacked, Job, signal_group

CONCURRENCY = 200
AGENTS_MODULE = "benchmarks.agentmesh_agents"


class AgentMeshSystem(DatabaseBacked, AsyncProducer):
    name = "agentmesh"
    durable = "yes (PostgreSQL; Redis only an index)"
    completion = "COMPLETED rows in PostgreSQL"
    single_api = f"POST /tasks, {ASYNC_CLIENTS} HTTP clients in flight"
    batch_api = "POST /tasks/batch, 1000 per request, 1 request in flight"
    count_sql = "SELECT count(*) FROM tasks WHERE status = 'COMPLETED'"

    def __init__(self, env: BenchEnv, concurrency: int = CONCURRENCY, api_processes: int = 1) -> None:
        super().__init__(env)
        self.concurrency = concurrency
        self.api_processes = api_processes
        self.workers = (f"2 x `agentmesh worker --concurrency {concurrency}`; "
                        f"`agentmesh api --processes {api_processes}` (uvicorn)")  # fmt: skip
        self.api: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None

    def mesh_env(self) -> dict[str, str]:
        assert self.dsn is not None
        return self.env.child_env(DB_DSN=self.dsn, REDIS_URL=self.env.broker_url, AGENTMESH_AGENTS=AGENTS_MODULE)

    worker_env = mesh_env

    async def reset(self) -> None:
        """Stop the API before its database is dropped, so it never logs a vanished database."""
        await self._stop_api()
        await super().reset()

    async def prepare_database(self) -> None:
        """`agentmesh migrate`, then a fresh API process bound to the new database."""
        await asyncio.to_thread(self._migrate)
        await self._start_api()

    def _migrate(self) -> None:
        migrate = subprocess.run([venv_bin("agentmesh"), "migrate"], env=self.mesh_env(), cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        if migrate.returncode != 0:
            raise RuntimeError(f"agentmesh migrate failed: {migrate.stdout}{migrate.stderr}")

    def _spawn_api(self, port: int) -> subprocess.Popen[bytes]:
        with open(self.logdir / "api.log", "ab") as log:
            return subprocess.Popen([venv_bin("agentmesh"), "api", "--port", str(port), "--log-level", "warning",
                                     "--processes", str(self.api_processes)],
                                    env=self.mesh_env(), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip

    async def _start_api(self) -> None:
        port = free_port()
        self.api = self._spawn_api(port)
        self.http = aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            connector=aiohttp.TCPConnector(limit=ASYNC_CLIENTS + 8, keepalive_timeout=2),  # < uvicorn's 5 s
            timeout=aiohttp.ClientTimeout(total=60),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"agentmesh api exited: {self.logs()}")
            try:
                async with self.http.get("/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("agentmesh api did not answer /healthz within 30 s")

    async def _stop_api(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.api is not None:
            signal_group(self.api, signal.SIGTERM)
            try:
                self.api.wait(15)
            except subprocess.TimeoutExpired:
                signal_group(self.api, signal.SIGKILL)
                self.api.wait()
            self.api = None

    async def send(self, stamp: float | None, sleep: float) -> None:
        assert self.http is not None
        body = {"agent_type": AGENT_TYPE, "payload": {"stamp": stamp, "sleep": sleep}}
        async with self.http.post("/tasks", json=body) as response:
            if response.status != 201:
                raise RuntimeError(f"POST /tasks answered {response.status}: {(await response.text())[:300]}")
            await response.read()

    async def send_many(self, count: int, job: Job) -> None:
        assert self.http is not None
        tasks = [{"agent_type": AGENT_TYPE, "payload": {"stamp": job.stamp(), "sleep": job.sleep}}] * count
        async with self.http.post("/tasks/batch", json={"tasks": tasks}) as response:
            if response.status != 201:
                raise RuntimeError(f"POST /tasks/batch answered {response.status}: {(await response.text())[:300]}")
            await response.read()

    async def close(self) -> None:
        await self._stop_api()
        await super().close()

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("agentmesh"), "worker", "--concurrency", str(self.concurrency), "--log-level", "warning"]
                for _ in range(procs)]  # fmt: skip
