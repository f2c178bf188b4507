"""The command line as users run it: real processes, one-line errors, non-zero exits."""

from __future__ import annotations

import json
import os

from agentmesh.config import Settings
from agentmesh.migrations import load_migrations
from tests.procs import Processes, run_cli, settings_env
from tests.servers import PostgresServer, free_port


def test_migrate_twice_is_a_noop(pg_server: PostgresServer, empty_pg_dsn: str) -> None:
    env = settings_env(Settings(db_dsn=empty_pg_dsn))
    first = run_cli(["migrate"], env)
    assert first.returncode == 0, first.stderr
    every = [migration.version for migration in load_migrations("postgres")]
    assert f"applied migrations {every}" in first.stdout
    database = empty_pg_dsn.rsplit("/", 1)[1]
    schema_before = pg_server.psql("SELECT version, name, applied_at FROM schema_migrations", database)
    second = run_cli(["migrate"], env)
    assert second.returncode == 0 and "up to date" in second.stdout
    assert pg_server.psql("SELECT version, name, applied_at FROM schema_migrations", database) == schema_before


def one_line_error(result: object, *needles: str) -> None:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0  # type: ignore[attr-defined]
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_configuration_is_one_line(empty_pg_dsn: str) -> None:
    base = settings_env(Settings(db_dsn=empty_pg_dsn))
    one_line_error(run_cli(["migrate"], {**base, "DB_DSN": "mysql://root@localhost/x"}), "DB_DSN", "mysql")
    one_line_error(run_cli(["worker"], {**base, "AGENTMESH_CONCURRENCY": "lots"}), "AGENTMESH_CONCURRENCY")
    one_line_error(run_cli(["worker"], {**base, "AGENTMESH_MAX_RETRIES": "-1"}), "AGENTMESH_MAX_RETRIES")
    no_redis = {k: v for k, v in base.items() if not k.startswith("REDIS")}
    one_line_error(run_cli(["api"], no_redis), "REDIS_ADDR", "agentmesh dev")
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    one_line_error(run_cli(["migrate"], {**base, "DB_DSN": unreachable}), "cannot reach PostgreSQL")
    one_line_error(run_cli(["worker"], {**base, "REDIS_ADDR": "127.0.0.1:6379", "AGENTMESH_AGENTS": "no.such.mod"}),
                   "AGENTMESH_AGENTS", "no.such.mod")  # fmt: skip


def test_unmigrated_schema_is_refused(empty_pg_dsn: str, redis_url: str) -> None:
    env = {**settings_env(Settings(db_dsn=empty_pg_dsn)), "REDIS_URL": redis_url}
    one_line_error(run_cli(["worker"], env), "agentmesh migrate")


def test_submit_wait_get_tasks_dlq(settings: Settings, procs: Processes) -> None:
    url = procs.api(settings)
    procs.worker(settings, concurrency=4)
    env = {**settings_env(settings), "AGENTMESH_URL": url}
    ok = run_cli(["submit", "MAGNUS_STRATEGIST", "--payload", '{"simulate": {"duration_ms": 5}}', "--wait"], env)
    assert ok.returncode == 0, ok.stderr
    task = json.loads(ok.stdout)
    assert task["status"] == "COMPLETED" and task["result"]["agent"] == "MAGNUS_STRATEGIST"
    doomed = run_cli(["submit", "LYRA_AUDITOR", "--max-retries", "0", "--wait",
                      "--payload", '{"simulate": {"duration_ms": 0, "fail_rate": 1}}'], env)  # fmt: skip
    assert doomed.returncode == 1
    dead = json.loads(doomed.stdout)
    assert dead["status"] == "PERMANENT_FAILURE"
    got = run_cli(["get", task["id"], "--events"], env)
    assert [e["to_status"] for e in json.loads(got.stdout)["events"]] == ["PENDING", "RUNNING", "COMPLETED"]
    listed = json.loads(run_cli(["tasks", "--json", "--status", "COMPLETED"], env).stdout)
    assert [t["id"] for t in listed["items"]] == [task["id"]]
    dlq = json.loads(run_cli(["dlq", "list", "--json"], env).stdout)
    assert [t["id"] for t in dlq["items"]] == [dead["id"]]
    requeued = run_cli(["dlq", "requeue", dead["id"]], env)
    assert requeued.returncode == 0 and "PENDING" in requeued.stdout
    one_line_error(run_cli(["get", "not-a-uuid"], env), "422")
    one_line_error(run_cli(["submit", "NOBODY"], env), "unknown agent type")
    one_line_error(run_cli(["submit", "CEDRIC_WRITER", "--payload", "{nope"], env), "--payload")
    one_line_error(run_cli(["tasks"], {**env, "AGENTMESH_URL": f"http://127.0.0.1:{free_port()}"}), "cannot reach")


def test_help_works_for_every_command() -> None:
    env = dict(os.environ)
    for command in (["--help"], ["api", "--help"], ["worker", "--help"], ["dlq", "--help"], ["submit", "--help"]):
        result = run_cli(command, env)
        assert result.returncode == 0 and "Usage" in result.stdout
