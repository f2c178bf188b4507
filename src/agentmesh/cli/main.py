"""The `agentmesh` command line."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentmesh.cli.bench import bench
from agentmesh.client import Client
from agentmesh.config import Settings, load_settings, redact
from agentmesh.errors import AgentMeshError, ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="AgentMesh: orchestrate fleets of AI agents.")
dlq_app = typer.Typer(no_args_is_help=True, help="Inspect and requeue the dead-letter queue.")
app.add_typer(dlq_app, name="dlq")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

AgentsOpt = Annotated[
    list[str] | None, typer.Option("--agents", help="Module(s) registering custom agents (AGENTMESH_AGENTS).")
]
UrlOpt = Annotated[str | None, typer.Option("--url", help="API base URL (AGENTMESH_URL).")]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow a non-loopback --host without AGENTMESH_API_KEYS (no authentication).")
]


def one_line_errors(fn: F) -> F:
    """Turn every AgentMesh error into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[red]error:[/red] {escape(redact(str(exc)))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except AgentMeshError as exc:
            err.print(f"[red]error:[/red] {escape(redact(str(exc)))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def settings_with(**overrides: Any) -> Settings:
    if overrides.get("agents") is not None:
        overrides["agents"] = tuple(overrides["agents"])
    return load_settings(**overrides)


def client(url: str | None) -> Client:
    settings = settings_with(url=url)
    return Client(settings.url, api_key=settings.api_keys[0] if settings.api_keys else None)


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


# -- servers -----------------------------------------------------------------------------
@app.command()
@one_line_errors
def migrate() -> None:
    """Apply the store's schema migrations (idempotent)."""
    from agentmesh.cli.runtime import run_async
    from agentmesh.store import create_store

    async def main() -> list[int]:
        store = create_store(settings_with())
        await store.open()
        try:
            return await store.migrate()
        finally:
            await store.close()

    applied = run_async(main())
    out.print(f"applied migrations {applied}" if applied else "schema is up to date")


@app.command()
@one_line_errors
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (AGENTMESH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (AGENTMESH_PORT).")] = None,
    agents: AgentsOpt = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
    insecure: InsecureOpt = False,
    processes: Annotated[
        int, typer.Option(min=1, max=256, help="API processes sharing the port (one core each; 1: no supervisor).")
    ] = 1,
) -> None:
    """Run the Producer API (distributed mode: PostgreSQL or SQLite + Redis)."""
    from agentmesh.cli.serve import serve_api

    serve_api(settings_with(host=host, port=port, agents=agents), log_level, insecure, processes)


@app.command()
@one_line_errors
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Tasks in flight (AGENTMESH_CONCURRENCY).")] = None,
    agents: AgentsOpt = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Run a worker process (distributed mode)."""
    from agentmesh.cli.serve import serve_worker

    serve_worker(settings_with(concurrency=concurrency, agents=agents), metrics_port, log_level)


@app.command()
@one_line_errors
def dev(
    demo: Annotated[bool, typer.Option("--demo", help="Submit a sample workload and show it settle.")] = False,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (AGENTMESH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (AGENTMESH_PORT).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Tasks in flight (AGENTMESH_CONCURRENCY).")] = None,
    agents: AgentsOpt = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "warning",
    insecure: InsecureOpt = False,
) -> None:
    """API and workers in one process: SQLite + in-process broker unless DB_DSN / REDIS_ADDR say otherwise."""
    from agentmesh.cli.dev import serve_dev

    serve_dev(settings_with(host=host, port=port, concurrency=concurrency, agents=agents), demo, log_level, insecure)


# -- client ------------------------------------------------------------------------------
@app.command()
@one_line_errors
def submit(
    agent_type: Annotated[str, typer.Argument(help="Registered agent type, e.g. CEDRIC_WRITER.")],
    payload: Annotated[str, typer.Option(help="JSON object handed to the agent.")] = "{}",
    priority: Annotated[str | None, typer.Option(help="high, medium or low (default: the agent's lane).")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Repeat-safe submission key.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries before the dead letter.")] = None,
    delay: Annotated[float | None, typer.Option(help="Seconds to wait before the first run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the task until it is terminal.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 300.0,
    url: UrlOpt = None,
) -> None:
    """Submit one task through the API and print it."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise AgentMeshError(f"--payload is not valid JSON: {exc}") from None
    with client(url) as api_client:
        task = api_client.submit(
            agent_type, body, priority=priority, idempotency_key=idempotency_key, max_retries=max_retries,
            delay_seconds=delay,
        )  # fmt: skip
        if wait:
            with err.status(f"waiting for {task['id']}…"):
                task = api_client.wait(task["id"], timeout=timeout)
    print_json(task)
    if wait and task["status"] != "COMPLETED":
        raise typer.Exit(1)


@app.command()
@one_line_errors
def get(
    task_id: str,
    events: Annotated[bool, typer.Option("--events", help="Also print the audit trail.")] = False,
    url: UrlOpt = None,
) -> None:
    """Show one task."""
    with client(url) as api_client:
        task = api_client.get(task_id)
        if events:
            task["events"] = api_client.events(task_id)
    print_json(task)


def task_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "agent_type", "priority", "status", "retries", "updated_at", "last_error")
    for task in items:
        table.add_row(
            task["id"], task["agent_type"], task["priority"], task["status"], str(task["retry_count"]),
            task["updated_at"], (task["last_error"] or "")[:60],
        )  # fmt: skip
    return table


@app.command()
@one_line_errors
def tasks(
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    agent_type: Annotated[str | None, typer.Option(help="Filter by agent type.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (≤ 1000).")] = 20,
    cursor: Annotated[str | None, typer.Option(help="`next` of a previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    url: UrlOpt = None,
) -> None:
    """List tasks, newest first."""
    with client(url) as api_client:
        page = api_client.list_tasks(status=status, agent_type=agent_type, limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    out.print(task_table(page["items"]))
    if page["next"]:
        out.print(f"more: --cursor {page['next']}")


@dlq_app.command("list")
@one_line_errors
def dlq_list(
    limit: Annotated[int, typer.Option(help="At most this many (≤ 1000).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    url: UrlOpt = None,
) -> None:
    """List tasks in PERMANENT_FAILURE."""
    with client(url) as api_client:
        page = api_client.dead_letter(limit=limit)
    if as_json:
        print_json(page)
    else:
        out.print(task_table(page["items"]))


@dlq_app.command("requeue")
@one_line_errors
def dlq_requeue(task_ids: list[str], url: UrlOpt = None) -> None:
    """Send dead-lettered tasks back to PENDING."""
    with client(url) as api_client:
        for task_id in task_ids:
            task = api_client.requeue(task_id)
            out.print(f"{task['id']} → {task['status']}")


workflow_app = typer.Typer(no_args_is_help=True, help="Submit and inspect workflows (DAGs of steps).")
app.add_typer(workflow_app, name="workflow")


@workflow_app.command("submit")
@one_line_errors
def workflow_submit(
    file: Annotated[str, typer.Argument(help="Workflow definition, JSON or YAML: name, steps[{id, agent_type, …}].")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the workflow until it settles.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 600.0,
    url: UrlOpt = None,
) -> None:
    """Submit a workflow from a file and print it (drawn as a DAG with --wait)."""
    import yaml

    from agentmesh.cli.dag import render

    try:
        with open(file, encoding="utf-8") as handle:
            body = yaml.safe_load(handle)  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as exc:
        raise AgentMeshError(f"cannot read {file}: {exc}".splitlines()[0]) from None
    if not isinstance(body, dict):
        raise AgentMeshError(f"{file}: expected an object with name and steps")
    with client(url) as api_client:
        workflow = api_client.submit_workflow(body)
        if not wait:
            print_json(workflow)
            return
        with err.status(f"waiting for workflow {workflow['id']}…"):
            workflow = api_client.wait_workflow(workflow["id"], timeout=timeout)
    out.print(render(workflow))
    if workflow["status"] != "COMPLETED":
        raise typer.Exit(1)


@workflow_app.command("get")
@one_line_errors
def workflow_get(
    workflow_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the drawing.")] = False,
    url: UrlOpt = None,
) -> None:
    """Show a workflow: its DAG with every step's state."""
    from agentmesh.cli.dag import render

    with client(url) as api_client:
        workflow = api_client.get_workflow(workflow_id)
    if as_json:
        print_json(workflow)
    else:
        out.print(render(workflow))


app.command()(one_line_errors(bench))


def run() -> None:
    """Console-script entry point."""
    app(prog_name="agentmesh")


if __name__ == "__main__":  # pragma: no cover
    run()
