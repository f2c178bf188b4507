"""`agentmesh bench`: options in, progress bars and a summary out; the measuring is `agentmesh.bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentmesh.bench import DEFAULT_AGENT, BenchConfig, BenchError, BenchResult, Mode, run_bench
from agentmesh.config import load_settings

out = Console()
err = Console(stderr=True)

PHASES = {"enqueue": "enqueue", "wait": "finish", "records": "read back"}


def bench(
    tasks: Annotated[int, typer.Option(help="Tasks to submit.")] = 10_000,
    agent: Annotated[str, typer.Option(help="Agent type to run (default: a built-in persona, no delay, no failure).")]
    = DEFAULT_AGENT,
    payload: Annotated[str | None, typer.Option(help="JSON object for every task (default: zero-duration "
                                                     "`simulate` knobs for the built-in personas, {} otherwise).")]
    = None,
    mode: Annotated[str, typer.Option(help="batch: POST /tasks/batch; single: one POST /tasks per task.")] = "batch",
    batch_size: Annotated[int, typer.Option(help="Tasks per batch request (≤ 1000).")] = 500,
    clients: Annotated[int | None, typer.Option(help="Concurrent requests (default: 64 single, 4 batch).")] = None,
    rate: Annotated[float | None, typer.Option(help="Offered load in tasks/s (default: as fast as possible).")]
    = None,
    timeout: Annotated[float, typer.Option(help="Give up waiting for the tasks to finish after this many seconds.")]
    = 600.0,
    json_path: Annotated[str | None, typer.Option("--json", help="Also write the summary as JSON to this file.")]
    = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Only measure the enqueue phase.")] = False,
    url: Annotated[str | None, typer.Option("--url", help="API base URL (AGENTMESH_URL).")] = None,
) -> None:
    """Load-test a running mesh through its API: enqueue rate, drain rate, latency percentiles."""
    body = None
    if payload is not None:
        try:
            body = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise BenchError(f"--payload is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BenchError("--payload must be a JSON object")
    settings = load_settings(url=url)
    config = BenchConfig(
        url=settings.url.rstrip("/"), api_key=settings.api_keys[0] if settings.api_keys else None, tasks=tasks,
        agent_type=agent, payload=body, mode=_mode(mode), batch_size=batch_size, clients=clients, rate=rate,
        timeout=timeout, wait=not no_wait,
    )  # fmt: skip
    config.check()
    if json_path is not None:
        _check_writable(Path(json_path))
    from agentmesh.cli.runtime import run_async

    with _Bars() as bars:
        result = run_async(run_bench(config, bars.update))
    out.print(summary_table(result))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    if not result.submitted:
        first = next(iter(result.error_samples.items()), ("", "no answer"))
        raise BenchError(f"no task was accepted ({_errors(result.errors)}); first error: {first[0]} {first[1]}")
    if result.timed_out:
        moving = result.submitted - result.terminal
        raise BenchError(f"{moving} of {result.submitted} tasks still not terminal after --timeout {timeout:g}s")


def _mode(mode: str) -> Mode:
    if mode == "batch":
        return "batch"
    if mode == "single":
        return "single"
    raise BenchError(f"--mode must be batch or single (got {mode!r})")


def _check_writable(path: Path) -> None:
    """Refuse a --json path we could not write before spending minutes on the run."""
    if path.is_dir():
        raise BenchError(f"--json {path}: is a directory")
    if not path.parent.is_dir():
        raise BenchError(f"--json {path}: no directory {path.parent}")


class _Bars:
    """One rich progress bar per phase, on stderr, started by the first report (so an error before the
    run prints nothing but its one line)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.bars: dict[str, TaskID] = {}

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"),
                TimeElapsedColumn(), console=err,
            )  # fmt: skip
            self.progress.start()
        if phase not in self.bars:
            self.bars[phase] = self.progress.add_task(PHASES.get(phase, phase), total=total)
        self.progress.update(self.bars[phase], completed=done, total=total)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n:,}" for code, n in errors.items()) or "none"


def summary_table(result: BenchResult) -> Group:
    """What was offered and what came out, then the latency percentiles (ms)."""
    load = f"{result.rate:,g} tasks/s offered" if result.rate else "as fast as possible"
    how = f"batch of {result.batch_size}" if result.mode == "batch" else "single"
    summary = Table("agentmesh bench", "", show_header=True)
    summary.add_row("tasks accepted", f"{result.submitted:,} of {result.tasks:,} ({result.agent_type})")
    summary.add_row("mode", f"{how}, {result.clients} clients, {load}")
    summary.add_row("enqueue", f"{result.enqueue_rate:,.0f} tasks/s ({result.submitted:,} tasks, "
                               f"{result.requests:,} requests in {result.enqueue_seconds:,.2f} s)")  # fmt: skip
    latency = Table("latency (ms)", "n", "p50", "p90", "p99", "p99.9", "max")
    rows = [("enqueue request", result.request_latency_ms)]
    if result.waited and result.submitted:
        drain, seconds = result.drain_rate, result.drain_seconds
        summary.add_row("drain (end to end)", "n/a" if drain is None or seconds is None else
                        f"{drain:,.0f} tasks/s ({result.terminal:,} tasks, first submit to last in {seconds:,.2f} s)")
        summary.add_row("final status", ", ".join(f"{status} {n:,}" for status, n in result.by_status.items()))
        rows += [("submit → start", result.submit_to_start_ms), ("submit → finish", result.submit_to_finish_ms)]
    summary.add_row("errors (submissions)", _errors(result.errors))
    for name, p in rows:
        latency.add_row(name, f"{p.count:,}", *(_ms(v) for v in (p.p50, p.p90, p.p99, p.p999, p.max)))
    return Group(summary, latency)
