"""The throwaway servers every system shares, and the per-run state reset.

One private PostgreSQL (fsync and synchronous_commit on) and one private Redis on free ports, started from the
machine's binaries by the test suite's own helpers, so the benchmark never touches a server someone else runs.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis.asyncio as aredis
from tests.servers import PostgresServer, RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent
STATS_DB = 15  # the stats keys live in their own Redis database, apart from every broker's keys


@dataclass
class BenchEnv:
    """Shared servers plus helpers to give each run a clean database and an empty Redis."""

    pg: PostgresServer
    redis: RedisServer
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls) -> BenchEnv:
        pg, rds = PostgresServer(fsync=True), RedisServer()
        pg.start()
        rds.start()
        return cls(pg=pg, redis=rds)

    def stop(self) -> None:
        self.pg.destroy()
        self.redis.destroy()

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"

    @property
    def stats_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/{STATS_DB}"

    def stats_client(self) -> aredis.Redis:
        return aredis.Redis.from_url(self.stats_url)

    async def flush_redis(self) -> None:
        """FLUSHALL: brokers and stats start empty for every run."""
        client = aredis.Redis.from_url(self.broker_url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    async def fresh_database(self, system: str) -> str:
        """Create a new, empty database for one run and return its DSN (old ones are dropped at exit)."""
        name = f"bench_{system}_{next(self._counter)}"
        conn = await asyncpg.connect(self.pg.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.pg.dsn(name)

    async def drop_database(self, dsn: str) -> None:
        """Drop a run's database so a long benchmark does not fill the disk."""
        name = dsn.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.pg.dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def child_env(self, **extra: str) -> dict[str, str]:
        """Environment of every worker process: stats URL, repo on the path, no stray queue settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTMESH_", "DB_", "REDIS_", "BENCH_"))}
        env.update(
            BENCH_STATS_URL=self.stats_url,
            BENCH_BROKER_URL=self.broker_url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env


def venv_bin(name: str) -> str:
    """A console script of the running interpreter's environment (`agentmesh`, `celery`, ...)."""
    return str(Path(sys.executable).parent / name)
