"""`python -m benchmarks.scale`: does AgentMesh stay fast with a deep queue?

Measures bulk submit and no-op drain rates on an empty mesh, then again with a backlog of
`--backlog` PENDING tasks (default 1,000,000) in PostgreSQL and Redis, and prints EXPLAIN ANALYZE
of every hot-path statement on that deep table: each must find its rows by key, never by scanning
the queue. Same servers and settings as `benchmarks.run` (PostgreSQL fsync on, 2 workers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from agentmesh.store.postgres import Q
from benchmarks.env import BenchEnv
from benchmarks.measure import enqueue_rate
from benchmarks.systems.agentmesh import AgentMeshSystem
from benchmarks.systems.base import Job

console = Console()
HOT_PATH = ["insert_tasks", "claim_many", "extend_leases", "complete_many", "promote"]
REPAIR = ["expired_leases", "stale_pending", "count_stale_pending"]


async def drain_rate(system: AgentMeshSystem, sample: int, timeout: float = 300) -> float:
    """Start the workers; rate from the first completion until `sample` more have finished (start-up excluded)."""
    before = await system.finished()
    system.start_workers()
    try:
        first = await _poll_until(system, lambda done: done > before, 0.01)
        start = time.monotonic()
        done = await _poll_until(system, lambda done: done >= before + sample or time.monotonic() - start > timeout)
        return (done - first) / (time.monotonic() - start)
    finally:
        system.stop_workers()


POLL = 0.25  # coarser than benchmarks.run: each poll counts COMPLETED rows on the server under test


async def _poll_until(system: AgentMeshSystem, reached: Callable[[int], bool], every: float = POLL) -> int:
    """The finished count once `reached` holds for it."""
    while True:
        done = await system.finished()
        if reached(done):
            return done
        await asyncio.sleep(every)


async def rates(system: AgentMeshSystem, sample: int) -> dict[str, float]:
    submit = await enqueue_rate(system, sample, Job(), budget=120, batch=True)
    return {"submit_batch": submit.rate or 0.0, "drain": await drain_rate(system, sample)}


async def explain(dsn: str) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of each statement on the deep table, inside transactions that are rolled back."""
    conn = await asyncpg.connect(dsn)
    plans: dict[str, list[str]] = {}
    try:
        ids = sorted(r["id"] for r in await conn.fetch("SELECT id FROM tasks WHERE status = 'PENDING' LIMIT 100"))
        one = [1] * len(ids)
        new = [uuid.uuid4() for _ in range(1000)]
        arguments: dict[str, tuple[Any, ...]] = {
            "insert_tasks": (new, ["BENCH_TASK"] * 1000, ["high"] * 1000, ["{}"] * 1000, [0] * 1000,
                             [None] * 1000, [None] * 1000, [0.0] * 1000),
            "claim_many": (ids, "scale", 30.0),
            "extend_leases": (ids, one, 30.0),
            "complete_many": (ids, one, ["{}"] * len(ids), "scale"),
            "promote": (ids,),
            "expired_leases": (500,),
            "stale_pending": (15.0, 10_000),
            "count_stale_pending": (15.0,),
        }  # fmt: skip
        for name in HOT_PATH + REPAIR:
            transaction = conn.transaction()
            await transaction.start()
            try:
                if name in ("extend_leases", "complete_many"):
                    await conn.fetch(Q["claim_many"], ids, "scale", 30.0)  # they act on claimed rows
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {Q[name]}", *arguments[name])
                plans[name] = [row[0] for row in rows]
            finally:
                await transaction.rollback()
    finally:
        await conn.close()
    return plans


async def main(args: argparse.Namespace) -> dict[str, Any]:
    env = BenchEnv.start()
    system = AgentMeshSystem(env)
    try:
        await system.reset()  # a fresh database, migrated, and the API started on it
        empty = await rates(system, args.sample)
        console.print(f"empty queue: {empty}")
        started = time.monotonic()
        filled = await enqueue_rate(system, args.backlog, Job(), budget=3600, batch=True)
        console.print(f"backlog of {filled.tasks:,} submitted in {time.monotonic() - started:.0f}s")
        assert system.dsn is not None
        async with asyncpg.create_pool(system.dsn, min_size=1, max_size=1) as pool:
            await pool.execute("VACUUM ANALYZE tasks")  # what autovacuum does on its own, sooner or later
        deep = await rates(system, args.sample)
        console.print(f"with the backlog: {deep}")
        plans = await explain(system.dsn)
    finally:
        await system.close()
        env.stop()
    return {"backlog": args.backlog, "sample": args.sample, "empty": empty, "deep": deep, "plans": plans}


def render(result: dict[str, Any]) -> None:
    table = Table(title=f"AgentMesh with {result['backlog']:,} tasks queued ({result['sample']:,}-task samples)")
    for column in ("", "empty queue /s", "deep queue /s", "deep / empty"):
        table.add_column(column, justify="right")
    for key, label in (("submit_batch", "submit (POST /tasks/batch)"), ("drain", "drain (no-op, 2 workers)")):
        empty, deep = result["empty"][key], result["deep"][key]
        table.add_row(label, f"{empty:,.0f}", f"{deep:,.0f}", f"{deep / empty:.0%}")
    console.print(table)
    for name, lines in result["plans"].items():
        scans = [line.strip() for line in lines if "Scan" in line or "Execution Time" in line]
        console.print(f"[bold]{name}[/bold]: " + " | ".join(line.split("  (")[0] for line in scans))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--backlog", type=int, default=1_000_000, help="PENDING tasks queued before measuring")
    parser.add_argument("--sample", type=int, default=50_000, help="tasks per measured submit / drain")
    parser.add_argument("--json", default="scale-results.json", help="where to write the figures and plans")
    options = parser.parse_args()
    outcome = asyncio.run(main(options))
    render(outcome)
    with open(options.json, "w") as out:
        json.dump(outcome, out, indent=2)
