-- Tasks, workflows of tasks, the append-only audit log, and the worker registry: the PostgreSQL
-- schema in SQLite types.
-- UUIDs are canonical lowercase TEXT, JSON is TEXT, and timestamps are fixed-width ISO-8601 UTC TEXT
-- (2024-05-01T12:00:00.123456Z), so comparing two timestamps is comparing two strings. The store
-- always passes timestamps itself; the defaults only keep hand-written rows in the same format.
CREATE TABLE workflows (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    cancelled_at    TEXT
);

CREATE UNIQUE INDEX workflows_idempotency_key ON workflows (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE tasks (
    id               TEXT    PRIMARY KEY,
    agent_type       TEXT    NOT NULL,
    priority         TEXT    NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('WAITING', 'PENDING', 'RUNNING', 'RETRYING', 'COMPLETED',
                                                        'PERMANENT_FAILURE', 'CANCELLED', 'SKIPPED')),
    result           TEXT,
    last_error       TEXT,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    request_hash     TEXT,
    worker_id        TEXT,
    lease_expires_at TEXT,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    started_at       TEXT,
    completed_at     TEXT,
    run_after        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    workflow_id      TEXT    REFERENCES workflows (id),
    step_id          TEXT,
    pending_deps     INTEGER NOT NULL DEFAULT 0  -- dependencies not COMPLETED yet (WAITING steps)
);

CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_status_id ON tasks (status, id);
CREATE INDEX tasks_agent_type_id ON tasks (agent_type, id);
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX tasks_waiting_run_after ON tasks (run_after) WHERE status IN ('PENDING', 'RETRYING');
CREATE UNIQUE INDEX tasks_workflow_step ON tasks (workflow_id, step_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE task_dependencies (
    task_id    TEXT NOT NULL REFERENCES tasks (id),
    depends_on TEXT NOT NULL REFERENCES tasks (id),
    PRIMARY KEY (task_id, depends_on)
);

CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on);

CREATE TABLE task_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT    NOT NULL REFERENCES tasks (id),
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    detail      TEXT
);

CREATE INDEX task_events_task ON task_events (task_id, id);

-- The audit log is append-only: refuse any change to a written row.
CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;

CREATE TRIGGER task_events_no_delete BEFORE DELETE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;

CREATE TABLE workers (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    in_flight   INTEGER NOT NULL,
    started_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    last_seen   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
