"""`python -m benchmarks.inflight`: thousands of agents in flight at once.

Queues `--tasks` tasks whose agent waits `--latency` seconds (an LLM call, simulated with
`asyncio.sleep`), then starts 2 `agentmesh worker --concurrency C` processes so that 2 x C
tasks are in flight at once, and reports the sustained completion rate and each worker's
peak RSS. Same servers as `benchmarks.run` (PostgreSQL fsync on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rich.console import Console

from benchmarks.env import BenchEnv
from benchmarks.measure import enqueue_rate
from benchmarks.scale import drain_rate
from benchmarks.systems.agentmesh import AgentMeshSystem
from benchmarks.systems.base import Job

console = Console()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    env = BenchEnv.start()
    system = AgentMeshSystem(env, concurrency=args.concurrency)
    try:
        await system.reset()
        await enqueue_rate(system, args.tasks, Job(sleep=args.latency), budget=600, batch=True)
        rss: list[float] = []

        async def sample_rss() -> None:
            while True:
                rss[:] = system.peak_rss_mib() or rss
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample_rss())
        rate = await drain_rate(system, args.tasks)
        sampler.cancel()
    finally:
        await system.close()
        env.stop()
    return {"tasks": args.tasks, "in_flight": 2 * args.concurrency, "latency_s": args.latency,
            "rate": rate, "peak_rss_mib": [round(value) for value in rss]}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inflight", description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=5_000, help="tasks in flight per worker process")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each agent waits")
    parser.add_argument("--json", default="inflight-results.json")
    options = parser.parse_args()
    outcome = asyncio.run(main(options))
    console.print(
        f"{outcome['in_flight']:,} tasks in flight of {outcome['latency_s']} s each: "
        f"{outcome['rate']:,.0f} tasks/s sustained; peak RSS per worker {outcome['peak_rss_mib']} MiB"
    )
    with open(options.json, "w") as out:
        json.dump(outcome, out, indent=2)
