-- Queries of the SQLite store. SQLite has no data-modifying CTEs, so each transition is an
-- UPDATE … RETURNING followed by `log_event` in the same transaction. Arrays travel as JSON
-- text read with json_each (the counterpart of unnest), timestamps are parameters computed
-- once per transaction (the counterpart of now()), and parameters are named.

-- name: insert_tasks
-- Insert a batch as PENDING; rows whose idempotency key exists already are skipped.
-- :batch is a JSON array of objects whose payload is JSON text already.
INSERT INTO tasks (id, agent_type, priority, payload, status, max_retries, idempotency_key, request_hash,
                   created_at, updated_at, run_after)
SELECT json_extract(value, '$.id'), json_extract(value, '$.agent_type'), json_extract(value, '$.priority'),
       json_extract(value, '$.payload'), 'PENDING', json_extract(value, '$.max_retries'),
       json_extract(value, '$.idempotency_key'), json_extract(value, '$.request_hash'), :now, :now,
       json_extract(value, '$.run_after')
FROM json_each(:batch)
WHERE true  -- required by the parser before an upsert clause
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *

-- name: tasks_by_idempotency_key
SELECT * FROM tasks WHERE idempotency_key IN (SELECT value FROM json_each(:keys))

-- name: get_task
SELECT * FROM tasks WHERE id = :id

-- name: task_events
SELECT * FROM task_events WHERE task_id = :id ORDER BY id

-- name: count_by_status
SELECT status, count(*) AS n FROM tasks GROUP BY status

-- name: count_with_status
SELECT count(*) FROM tasks WHERE status = :status

-- name: claim
-- Compare-and-set: only a PENDING, due task is claimed; the attempt counter fences later writes.
UPDATE tasks
SET status = 'RUNNING', attempt = attempt + 1, worker_id = :worker_id, lease_expires_at = :lease_until,
    started_at = :now, updated_at = :now
WHERE id = :id AND status = 'PENDING' AND run_after <= :now
RETURNING *

-- name: extend_leases
-- :held is a JSON array of [id, attempt] pairs.
UPDATE tasks
SET lease_expires_at = :lease_until
FROM json_each(:held) AS held
WHERE tasks.id = json_extract(held.value, '$[0]') AND tasks.attempt = json_extract(held.value, '$[1]')
  AND tasks.status = 'RUNNING'
RETURNING tasks.id

-- name: complete
UPDATE tasks
SET status = 'COMPLETED', result = :result, completed_at = :now, updated_at = :now, lease_expires_at = NULL
WHERE id = :id AND attempt = :attempt AND status = 'RUNNING'
RETURNING id, attempt

-- name: fail
-- :status is RETRYING or PERMANENT_FAILURE, decided by the retry policy from the claimed snapshot.
UPDATE tasks
SET status = :status, retry_count = :retry_count, last_error = :error, updated_at = :now, lease_expires_at = NULL,
    run_after = :run_after,
    completed_at = CASE WHEN :status = 'PERMANENT_FAILURE' THEN :now END
WHERE id = :id AND attempt = :attempt AND status = 'RUNNING'
RETURNING *

-- name: release
UPDATE tasks
SET status = 'PENDING', updated_at = :now, lease_expires_at = NULL, run_after = :now
WHERE id = :id AND attempt = :attempt AND status = 'RUNNING'
RETURNING id, attempt

-- name: promote
-- RETRYING → PENDING for the due ones; `log_event` follows for each, then `promotion_states`.
-- :ids is a JSON array of ids.
UPDATE tasks
SET status = 'PENDING', updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'RETRYING' AND run_after <= :now
RETURNING id, attempt

-- name: promotion_states
-- Every given id's lane, status after the promotion, and whether it is due.
SELECT id, priority, status, run_after <= :now AS due
FROM tasks
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: set_cancelled
UPDATE tasks
SET status = 'CANCELLED', completed_at = :now, updated_at = :now, lease_expires_at = NULL
WHERE id = :id
RETURNING *

-- name: set_requeued
UPDATE tasks
SET status = 'PENDING', retry_count = 0, result = NULL, completed_at = NULL, started_at = NULL,
    worker_id = NULL, run_after = :now, updated_at = :now
WHERE id = :id
RETURNING *

-- name: expired_leases
SELECT * FROM tasks WHERE status = 'RUNNING' AND lease_expires_at < :now ORDER BY lease_expires_at LIMIT :limit

-- name: stale_pending
SELECT id, priority FROM tasks
WHERE status = 'PENDING' AND run_after < :cutoff AND updated_at < :cutoff
ORDER BY id LIMIT :limit

-- name: count_stale_pending
SELECT count(*) AS n FROM tasks WHERE status = 'PENDING' AND run_after < :cutoff AND updated_at < :cutoff

-- name: stale_retrying
SELECT id, run_after FROM tasks WHERE status = 'RETRYING' AND run_after < :cutoff ORDER BY run_after LIMIT :limit

-- name: log_event
INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, at, detail)
VALUES (:task_id, :from_status, :to_status, :attempt, :worker_id, :now, :detail)

-- name: record_worker
INSERT INTO workers (id, host, pid, concurrency, in_flight, started_at, last_seen)
VALUES (:id, :host, :pid, :concurrency, :in_flight, :now, :now)
ON CONFLICT (id) DO UPDATE SET in_flight = excluded.in_flight, concurrency = excluded.concurrency,
                               last_seen = excluded.last_seen

-- name: remove_worker
DELETE FROM workers WHERE id = :id

-- name: list_workers
SELECT * FROM workers WHERE last_seen > :since ORDER BY started_at

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
)

-- name: migrations_table_exists
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'

-- name: applied_versions
SELECT version FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :now)

-- name: insert_workflow
-- Skipped (no row) when the idempotency key exists already.
INSERT INTO workflows (id, name, idempotency_key, request_hash, created_at)
VALUES (:id, :name, :idempotency_key, :request_hash, :now)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id

-- name: workflow_by_idempotency_key
SELECT id, request_hash FROM workflows WHERE idempotency_key = :idempotency_key

-- name: insert_steps
-- Steps of workflow :workflow_id: WAITING while pending_deps dependencies are unfinished, else PENDING.
-- :batch is a JSON array of objects whose payload is JSON text already; `log_event` follows for each.
INSERT INTO tasks (id, agent_type, priority, payload, status, max_retries, created_at, updated_at, run_after,
                   workflow_id, step_id, pending_deps)
SELECT json_extract(value, '$.id'), json_extract(value, '$.agent_type'), json_extract(value, '$.priority'),
       json_extract(value, '$.payload'),
       CASE WHEN json_extract(value, '$.pending_deps') > 0 THEN 'WAITING' ELSE 'PENDING' END,
       json_extract(value, '$.max_retries'), :now, :now, json_extract(value, '$.run_after'), :workflow_id,
       json_extract(value, '$.step_id'), json_extract(value, '$.pending_deps')
FROM json_each(:batch)
RETURNING *

-- name: insert_dependencies
-- :edges is a JSON array of [task_id, depends_on] pairs.
INSERT INTO task_dependencies (task_id, depends_on)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:edges)

-- name: release_dependents
-- Step :id completed: dependents lose one pending dependency; those at zero become PENDING
-- (RETURNING reports the new status); `log_event` follows for each of those.
UPDATE tasks
SET pending_deps = pending_deps - 1,
    status = CASE WHEN pending_deps = 1 THEN 'PENDING' ELSE status END,
    run_after = CASE WHEN pending_deps = 1 THEN :now ELSE run_after END,
    updated_at = :now
WHERE status = 'WAITING' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on = :id)
RETURNING id, priority, status, attempt

-- name: settle_dependents
-- Every step downstream of :id still WAITING becomes :status (SKIPPED after a failure, CANCELLED
-- after a cancel); `log_event` follows for each.
WITH RECURSIVE downstream (id) AS (
    SELECT task_id FROM task_dependencies WHERE depends_on = :id
    UNION
    SELECT d.task_id FROM task_dependencies AS d JOIN downstream ON d.depends_on = downstream.id
)
UPDATE tasks
SET status = :status, updated_at = :now, completed_at = :now
WHERE id IN (SELECT id FROM downstream) AND status = 'WAITING'
RETURNING id, attempt

-- name: resume_dependents
-- The failed step :id was requeued: SKIPPED steps downstream wait again for what is unfinished;
-- `log_event` follows for each.
WITH RECURSIVE downstream (id) AS (
    SELECT task_id FROM task_dependencies WHERE depends_on = :id
    UNION
    SELECT d.task_id FROM task_dependencies AS d JOIN downstream ON d.depends_on = downstream.id
)
UPDATE tasks AS t
SET status = 'WAITING', completed_at = NULL, updated_at = :now,
    pending_deps = (SELECT count(*) FROM task_dependencies AS d JOIN tasks AS dep ON dep.id = d.depends_on
                    WHERE d.task_id = t.id AND dep.status <> 'COMPLETED')
WHERE t.id IN (SELECT id FROM downstream) AND t.status = 'SKIPPED'
RETURNING id, attempt

-- name: dependency_results
SELECT dep.step_id, dep.result
FROM task_dependencies AS d JOIN tasks AS dep ON dep.id = d.depends_on
WHERE d.task_id = :id

-- name: workflow_row
-- The status is derived from the steps, never stored: it cannot drift from them. Same CASE as
-- `workflow_rows`; max/min of a comparison are bool_or/bool_and.
SELECT w.*, CASE
        WHEN w.cancelled_at IS NOT NULL THEN 'CANCELLED'
        WHEN max(t.status IN ('PERMANENT_FAILURE', 'CANCELLED')) THEN 'FAILED'
        WHEN min(t.status = 'COMPLETED') THEN 'COMPLETED'
        ELSE 'RUNNING' END AS status
FROM workflows AS w JOIN tasks AS t ON t.workflow_id = w.id
WHERE w.id = :id
GROUP BY w.id

-- name: workflow_rows
-- Newest first; :before and :status may be NULL.
SELECT * FROM (
    SELECT w.*, CASE
            WHEN w.cancelled_at IS NOT NULL THEN 'CANCELLED'
            WHEN max(t.status IN ('PERMANENT_FAILURE', 'CANCELLED')) THEN 'FAILED'
            WHEN min(t.status = 'COMPLETED') THEN 'COMPLETED'
            ELSE 'RUNNING' END AS status
    FROM workflows AS w JOIN tasks AS t ON t.workflow_id = w.id
    WHERE :before IS NULL OR w.id < :before
    GROUP BY w.id
)
WHERE :status IS NULL OR status = :status
ORDER BY id DESC
LIMIT :limit

-- name: workflow_steps
SELECT * FROM tasks WHERE workflow_id = :workflow_id ORDER BY id

-- name: workflow_edges
SELECT t.step_id AS step, dep.step_id AS depends_on
FROM tasks AS t
JOIN task_dependencies AS d ON d.task_id = t.id
JOIN tasks AS dep ON dep.id = d.depends_on
WHERE t.workflow_id = :workflow_id

-- name: unfinished_workflow_steps
-- What `cancel_workflow_steps` cancels, read first: RETURNING sees only the new status.
SELECT id, status, attempt FROM tasks
WHERE workflow_id = :workflow_id AND status IN ('WAITING', 'PENDING', 'RETRYING', 'RUNNING', 'SKIPPED')
ORDER BY id

-- name: cancel_workflow_steps
-- :ids is a JSON array of ids; `log_event` follows for each.
UPDATE tasks
SET status = 'CANCELLED', completed_at = :now, updated_at = :now, lease_expires_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: mark_workflow_cancelled
UPDATE workflows SET cancelled_at = :now WHERE id = :id
