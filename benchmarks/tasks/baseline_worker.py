"""The raw baseline's worker: hand-written asyncpg + redis-py, batched, durable (`python -m ...baseline_worker`).

It is the ceiling AgentMesh is held against: the least work a durable PostgreSQL-truth, Redis-index design can
do per task (one claim UPDATE and one completion UPDATE per batch of up to 100 ids, each with its audit rows),
with none of AgentMesh's leases, retries, fencing per attempt, heartbeats or reconciler.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aredis

from benchmarks.tasks.common import run_async

QUEUE_KEY = "baseline:queue"
BATCH = 100
LOOPS = 2  # fetch loops per process: 2 x 100 = 200 tasks in flight, as AgentMesh's --concurrency 200

SCHEMA = """
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status       text        NOT NULL,
    payload      jsonb       NOT NULL,
    attempt      integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    completed_at timestamptz
);
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE TABLE job_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint      NOT NULL REFERENCES jobs (id),
    from_status text,
    to_status   text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""

INSERT_SQL = """
WITH ins AS (INSERT INTO jobs (status, payload) SELECT 'PENDING', p::jsonb FROM unnest($1::text[]) AS p RETURNING id),
     ev AS (INSERT INTO job_events (job_id, to_status) SELECT id, 'PENDING' FROM ins)
SELECT id FROM ins
"""
CLAIM_SQL = """
WITH c AS (UPDATE jobs SET status = 'RUNNING', attempt = attempt + 1, started_at = now()
           WHERE id = ANY($1::bigint[]) AND status = 'PENDING' RETURNING id, payload::text AS payload),
     ev AS (INSERT INTO job_events (job_id, from_status, to_status) SELECT id, 'PENDING', 'RUNNING' FROM c)
SELECT id, payload FROM c
"""
COMPLETE_SQL = """
WITH c AS (UPDATE jobs SET status = 'COMPLETED', completed_at = now()
           WHERE id = ANY($1::bigint[]) AND status = 'RUNNING' RETURNING id)
INSERT INTO job_events (job_id, from_status, to_status) SELECT id, 'RUNNING', 'COMPLETED' FROM c
"""
COUNT_SQL = "SELECT count(*) FROM jobs WHERE status = 'COMPLETED'"


async def _run_one(payload: dict[str, Any]) -> None:
    await run_async(payload.get("stamp"), payload.get("sleep") or 0.0, count=False)


async def fetch_loop(pool: asyncpg.Pool, broker: aredis.Redis, stop: asyncio.Event) -> None:
    """Pop up to BATCH ids, claim them in one statement, run them all, complete them in one statement."""
    while not stop.is_set():
        ids = await broker.rpop(QUEUE_KEY, BATCH)
        if not ids:
            popped = await broker.brpop([QUEUE_KEY], timeout=1)
            if not popped:
                continue
            ids = [popped[1]]
        claimed = await pool.fetch(CLAIM_SQL, [int(i) for i in ids])
        await asyncio.gather(*(_run_one(orjson.loads(row["payload"])) for row in claimed))
        await pool.execute(COMPLETE_SQL, [row["id"] for row in claimed])


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await asyncpg.create_pool(os.environ["BENCH_DB_DSN"], min_size=LOOPS, max_size=LOOPS)
    broker = aredis.Redis.from_url(os.environ["BENCH_BROKER_URL"])
    try:
        await asyncio.gather(*(fetch_loop(pool, broker, stop) for _ in range(LOOPS)))
    finally:
        await pool.close()
        await broker.aclose()


if __name__ == "__main__":
    asyncio.run(main())
