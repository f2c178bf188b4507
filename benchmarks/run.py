"""`python -m benchmarks.run`: AgentMesh against Celery, Dramatiq, arq, RQ, SAQ, Procrastinate and a raw baseline.

Every system runs on the same throwaway PostgreSQL (fsync on) and Redis, with 2 worker processes, through the
same phases (see README.md in this folder). Prints one table and writes the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import traceback
from importlib import metadata
from typing import Any

from rich.console import Console

from benchmarks.env import BenchEnv
from benchmarks.measure import as_dict, drain, end_to_end, enqueue_rate, latency
from benchmarks.report import render
from benchmarks.systems import SYSTEMS, load
from benchmarks.systems.base import Job, System

IO_SLEEP = 0.05
PACKAGES = ["agentmesh", "celery", "kombu", "dramatiq", "arq", "rq", "saq", "procrastinate", "redis", "asyncpg",
            "psycopg"]  # fmt: skip

console = Console(stderr=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per enqueue/drain/end-to-end phase")
    parser.add_argument("--io-tasks", type=int, help="tasks of the I/O-bound (sleep 50 ms) phases; default tasks/4")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, from: " + ", ".join(SYSTEMS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per system; the table shows medians")
    parser.add_argument("--rates", default="500,1000", help="offered loads (tasks/s) of the latency phases")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of each latency phase")
    parser.add_argument("--phase-timeout", type=float, default=60.0, help="cap of each drain/end-to-end phase, s")
    parser.add_argument("--enqueue-budget", type=float, default=30.0, help="cap of each enqueue-only phase, s")
    parser.add_argument("--json", default="benchmark-results.json", help="where to write the raw results")
    parser.add_argument("--agentmesh-api-processes", type=int, default=1,
                        help="`agentmesh api --processes N` (1: the same single process in every phase)")  # fmt: skip
    args = parser.parse_args(argv)
    args.io_tasks = args.io_tasks or max(1, args.tasks // 4)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


async def run_once(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """One full pass over the phases; the first failing phase ends the pass and is recorded as its error."""
    result: dict[str, Any] = {"error": None}
    try:
        await _phases(system, args, result)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        console.print(f"[red]{system.name}: {result['error'][:300]}[/red]")
        if os.environ.get("BENCH_DEBUG"):
            traceback.print_exc()
    finally:
        system.stop_workers()
    return result


async def _phases(system: System, args: argparse.Namespace, out: dict[str, Any]) -> None:
    noop, io = Job(), Job(sleep=IO_SLEEP)
    step = _stepper(system.name)

    step("enqueue, one per call")
    await system.reset()
    out["enqueue_single"] = as_dict(await enqueue_rate(system, args.tasks, noop, args.enqueue_budget, batch=False))

    await system.reset()
    if system.batch_api:
        step("enqueue, bulk API")
        batch = await enqueue_rate(system, args.tasks, noop, args.enqueue_budget, batch=True)
        out["enqueue_batch"] = as_dict(batch)
        queued = batch.tasks
    else:
        queued = await system.enqueue_single(args.tasks, noop, time.monotonic() + args.enqueue_budget)
    step(f"drain {queued} no-op tasks")
    out["drain_noop"] = as_dict(await drain(system, queued, args.phase_timeout))
    step("end-to-end, no-op")
    out["e2e_noop"] = as_dict(await end_to_end(system, args.tasks, noop, args.phase_timeout))
    out["latency"] = {}
    for rate in args.rates:
        step(f"latency at {rate:.0f}/s for {args.latency_seconds:.0f}s")
        out["latency"][f"{rate:.0f}"] = as_dict(await latency(system, rate, args.latency_seconds))
    out["rss_mib"] = system.peak_rss_mib()
    system.stop_workers()

    await system.reset()
    queued = await system.enqueue_fastest(args.io_tasks, io, time.monotonic() + args.enqueue_budget)
    step(f"drain {queued} I/O tasks (sleep {IO_SLEEP * 1000:.0f} ms)")
    out["drain_io"] = as_dict(await drain(system, queued, args.phase_timeout))
    step("end-to-end, I/O")
    out["e2e_io"] = as_dict(await end_to_end(system, args.io_tasks, io, args.phase_timeout))
    out["rss_mib"] = [max(a, b) for a, b in zip(out["rss_mib"], system.peak_rss_mib(), strict=False)]


def _stepper(name: str):  # type: ignore[no-untyped-def]
    started = time.monotonic()

    def step(what: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {name}: {what}")

    return step


async def run_system(name: str, env: BenchEnv, args: argparse.Namespace) -> dict[str, Any]:
    """All repetitions of one system, plus its settings, as written to the JSON file."""
    try:
        cls = load(name)
    except Exception as exc:  # a peer that does not install or import still gets its row
        return {"runs": [{"error": f"import failed: {type(exc).__name__}: {exc}"}], "settings": {}}
    options = {"api_processes": args.agentmesh_api_processes} if name == "agentmesh" else {}
    system = cls(env, **options)
    runs = []
    try:
        for _ in range(args.repeat):
            runs.append(await run_once(system, args))
    finally:
        await system.close()
    settings = {"durable": system.durable, "workers": system.workers, "completion": system.completion,
                "single_api": system.single_api, "batch_api": system.batch_api, "logs": str(system.logdir)}  # fmt: skip
    return {"settings": settings, "runs": runs, "median": median_run(runs)}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric leaf over the runs that produced it."""
    good = [r for r in runs if r]
    if not good:
        return {}
    return _median_tree(good)


def _median_tree(items: list[Any]) -> Any:
    present = [i for i in items if i is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = {k for item in present for k in item}
        return {k: _median_tree([item.get(k) for item in present]) for k in sorted(keys)}
    if isinstance(first, list):
        return [_median_tree(list(col)) for col in zip(*present, strict=False)]
    if isinstance(first, bool):
        return all(present)
    if isinstance(first, int | float):
        return statistics.median(present)
    return first


def metadata_block(args: argparse.Namespace, env: BenchEnv) -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "postgres": env.pg.psql("SHOW server_version") + " (fsync on, synchronous_commit on)",
        "versions": versions,
        "args": {k: v for k, v in vars(args).items() if k != "json"},
    }


async def run_all(env: BenchEnv, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in args.systems:
        results[name] = await run_system(name, env, args)
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console.print(f"starting private PostgreSQL (fsync on) and Redis; systems: {', '.join(args.systems)}")
    env = BenchEnv.start()
    try:
        meta = metadata_block(args, env)
        results = asyncio.run(run_all(env, args))
    finally:
        env.stop()
    document = {"meta": meta, "systems": results}
    with open(args.json, "w") as handle:
        json.dump(document, handle, indent=2)
    render(document, Console(width=None if sys.stdout.isatty() else 200))
    console.print(f"raw results: {args.json}")


if __name__ == "__main__":
    main()
