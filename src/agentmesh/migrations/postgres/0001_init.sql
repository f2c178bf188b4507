-- Tasks, workflows of tasks, the append-only audit log, and the worker registry.
CREATE TABLE workflows (
    id              uuid PRIMARY KEY,
    name            text        NOT NULL,
    idempotency_key text,
    request_hash    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz
);

CREATE UNIQUE INDEX workflows_idempotency_key ON workflows (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    agent_type       text        NOT NULL,
    priority         text        NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    payload          jsonb       NOT NULL,
    status           text        NOT NULL CHECK (status IN ('WAITING', 'PENDING', 'RUNNING', 'RETRYING', 'COMPLETED',
                                                            'PERMANENT_FAILURE', 'CANCELLED', 'SKIPPED')),
    result           jsonb,
    last_error       text,
    retry_count      integer     NOT NULL DEFAULT 0,
    max_retries      integer     NOT NULL,
    attempt          integer     NOT NULL DEFAULT 0,
    idempotency_key  text,
    request_hash     text,
    worker_id        text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    run_after        timestamptz NOT NULL DEFAULT now(),
    workflow_id      uuid REFERENCES workflows (id),
    step_id          text,
    pending_deps     integer     NOT NULL DEFAULT 0  -- dependencies not COMPLETED yet (WAITING steps)
);

CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_status_id ON tasks (status, id);
CREATE INDEX tasks_agent_type_id ON tasks (agent_type, id);
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX tasks_waiting_run_after ON tasks (run_after) WHERE status IN ('PENDING', 'RETRYING');
CREATE UNIQUE INDEX tasks_workflow_step ON tasks (workflow_id, step_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE task_dependencies (
    task_id    uuid NOT NULL REFERENCES tasks (id),
    depends_on uuid NOT NULL REFERENCES tasks (id),
    PRIMARY KEY (task_id, depends_on)
);

CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on);

CREATE TABLE task_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES tasks (id),
    from_status text,
    to_status   text        NOT NULL,
    attempt     integer     NOT NULL,
    worker_id   text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail      text
);

CREATE INDEX task_events_task ON task_events (task_id, id);

-- The audit log is append-only: refuse any change to a written row.
CREATE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'task_events is append-only';
END $$;

CREATE TRIGGER task_events_no_update BEFORE UPDATE OR DELETE ON task_events
    FOR EACH ROW EXECUTE FUNCTION task_events_append_only();

CREATE TABLE workers (
    id          text PRIMARY KEY,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    concurrency integer     NOT NULL,
    in_flight   integer     NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);
