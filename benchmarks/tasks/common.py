"""The task body every system runs, so every system does exactly the same work per task.

A task optionally records its submit→start latency (RPUSH `now - stamp`), optionally sleeps (the I/O-bound
workload), and, for systems without a durable completion record, counts itself done with one INCR.
All of it goes to the *stats* database of the bench Redis (db 15), never to a broker's keyspace.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis
import redis.asyncio as aredis

DONE_KEY = "bench:done"
LATENCY_KEY = "bench:latency"
STATS_URL_ENV = "BENCH_STATS_URL"

_sync_client: redis.Redis | None = None
_async_clients: dict[int, aredis.Redis] = {}


def stats_url() -> str:
    """Where the stats live; set by the runner for every worker process."""
    return os.environ[STATS_URL_ENV]


def _sync() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(stats_url(), max_connections=64)
    return _sync_client


def _async() -> aredis.Redis:
    """One client per event loop: a client bound to another loop (a fork, a new loop) cannot be reused."""
    loop_id = id(asyncio.get_running_loop())
    client = _async_clients.get(loop_id)
    if client is None:
        client = _async_clients[loop_id] = aredis.Redis.from_url(stats_url(), max_connections=256)
    return client


def run_sync(stamp: float | None, sleep: float, count: bool = True) -> None:
    """Body for thread- and process-based workers (Celery, Dramatiq, RQ)."""
    if stamp is not None:
        _sync().rpush(LATENCY_KEY, time.time() - stamp)
    if sleep:
        time.sleep(sleep)
    if count:
        _sync().incr(DONE_KEY)


async def run_async(stamp: float | None, sleep: float, count: bool = True) -> None:
    """Body for asyncio workers (AgentMesh, arq, SAQ, Procrastinate, the baseline)."""
    if stamp is not None:
        await _async().rpush(LATENCY_KEY, time.time() - stamp)
    if sleep:
        await asyncio.sleep(sleep)
    if count:
        await _async().incr(DONE_KEY)
