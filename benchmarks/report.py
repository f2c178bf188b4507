"""The printed summary: one results table (medians of the runs) and one settings table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

RATE_COLUMNS = [
    ("enqueue_single", "enqueue\n1/call /s"),
    ("enqueue_batch", "enqueue\nbulk /s"),
    ("drain_noop", "drain\nno-op /s"),
    ("e2e_noop", "e2e\nno-op /s"),
    ("drain_io", "drain\nI/O /s"),
    ("e2e_io", "e2e\nI/O /s"),
]


def render(document: dict[str, Any], console: Console) -> None:
    systems: dict[str, Any] = document["systems"]
    rates = [f"{float(r):.0f}" for r in document["meta"]["args"]["rates"]]
    console.print(results_table(systems, rates))
    print_settings(systems, console)
    for name, data in systems.items():
        for i, run in enumerate(data["runs"]):
            if run.get("error"):
                console.print(f"[red]{name} run {i + 1}: {run['error'][:600]}[/red]")
    console.print(
        "* = phase hit its time limit; the rate is over the tasks finished by then. "
        "Latency = task start - submit stamp (p50 / p99 / p99.9, ms) at the offered load; 'offered only' = the "
        "producer could not submit that fast (the submissions' own queueing then counts as latency). "
        "RSS = peak (VmHWM) per worker process, "
        "children included. '% base' = drain no-op rate / the baseline's."
    )


def results_table(systems: dict[str, Any], rates: list[str]) -> Table:
    table = Table(title="AgentMesh vs peers — 2 worker processes each, PostgreSQL fsync on, medians", show_lines=False)
    table.add_column("system", style="bold")
    table.add_column("durable")
    for _, header in RATE_COLUMNS:
        table.add_column(header, justify="right")
    for rate in rates:
        table.add_column(f"latency ms\n@{rate}/s", justify="right")
    table.add_column("RSS MiB\n/worker", justify="right")
    table.add_column("% base\ndrain", justify="right")
    base = _rate(systems.get("baseline", {}).get("median", {}).get("drain_noop"))
    for name, data in systems.items():
        median = data.get("median") or {}
        cells = [_fmt_rate(median.get(key)) for key, _ in RATE_COLUMNS]
        cells += [_fmt_latency((median.get("latency") or {}).get(rate), float(rate)) for rate in rates]
        rss = median.get("rss_mib") or []
        cells.append(f"{max(rss):.0f}" if rss else "-")
        drain = _rate(median.get("drain_noop"))
        cells.append(f"{100 * drain / base:.0f}%" if drain and base else "-")
        durable = (data.get("settings") or {}).get("durable", "?").split(" ")[0]
        table.add_row(name, durable, *cells)
    return table


def print_settings(systems: dict[str, Any], console: Console) -> None:
    """One line per system: durability, workers, what counts as finished, and the producer APIs."""
    for name, data in systems.items():
        s = data.get("settings") or {}
        console.print(
            f"[bold]{name}[/bold]: durable {s.get('durable', '?')}; workers: {s.get('workers', '?')}; "
            f"finished = {s.get('completion', '?')}; 1/call: {s.get('single_api', '?')}; "
            f"bulk: {s.get('batch_api') or 'none'}"
        )


def _rate(value: dict[str, Any] | None) -> float | None:
    return float(value["rate"]) if value and value.get("rate") is not None else None


def _fmt_rate(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    if value.get("rate") is None:
        return "too fast"
    return f"{value['rate']:,.0f}{'' if value['complete'] else '*'}"


def _fmt_latency(value: dict[str, Any] | None, target: float) -> str:
    """p50 / p99 / p99.9; a producer that could not offer the target load adds the rate it reached."""
    if not value:
        return "-"
    text = f"{value['p50']:.1f} / {value['p99']:.0f} / {value['p999']:.0f}"
    if value["offered"] < 0.95 * target:
        text += f"\n(offered only {value['offered']:.0f}/s)"
    return text
