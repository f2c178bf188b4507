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
