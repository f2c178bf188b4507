-- Queries of the PostgreSQL store. Every transition writes its task_events row in the
-- same statement (a data-modifying CTE), so the audit log can never miss a change.

-- name: insert_tasks
-- Insert a batch as PENDING; rows whose idempotency key exists already are skipped.
WITH input AS (
    SELECT *
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::text[], $7::text[],
                $8::float8[])
        AS t (id, agent_type, priority, payload, max_retries, idempotency_key, request_hash, delay)
), inserted AS (
    INSERT INTO tasks (id, agent_type, priority, payload, status, max_retries, idempotency_key,
                       request_hash, run_after)
    SELECT id, agent_type, priority, payload, 'PENDING', max_retries, idempotency_key, request_hash,
           now() + make_interval(secs => delay)
    FROM input
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, NULL, 'PENDING', 0, 'submitted' FROM inserted
)
SELECT * FROM inserted

-- name: tasks_by_idempotency_key
SELECT * FROM tasks WHERE idempotency_key = ANY($1::text[])

-- name: get_task
SELECT * FROM tasks WHERE id = $1

-- name: lock_task
SELECT * FROM tasks WHERE id = $1 FOR UPDATE

-- name: task_events
SELECT * FROM task_events WHERE task_id = $1 ORDER BY id

-- name: count_by_status
SELECT status, count(*) AS n FROM tasks GROUP BY status

-- name: claim
-- Compare-and-set: only a PENDING, due task is claimed; the attempt counter fences later writes.
WITH claimed AS (
    UPDATE tasks
    SET status = 'RUNNING', attempt = attempt + 1, worker_id = $2,
        lease_expires_at = now() + make_interval(secs => $3), started_at = now(), updated_at = now()
    WHERE id = $1 AND status = 'PENDING' AND run_after <= now()
    RETURNING *
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id)
    SELECT id, 'PENDING', 'RUNNING', attempt, $2 FROM claimed
)
SELECT * FROM claimed

-- name: extend_leases
UPDATE tasks
SET lease_expires_at = now() + make_interval(secs => $3)
FROM unnest($1::uuid[], $2::int[]) AS held (id, attempt)
WHERE tasks.id = held.id AND tasks.attempt = held.attempt AND tasks.status = 'RUNNING'
RETURNING tasks.id

-- name: complete
WITH done AS (
    UPDATE tasks
    SET status = 'COMPLETED', result = $4, completed_at = now(), updated_at = now(), lease_expires_at = NULL
    WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
    RETURNING id, attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id)
    SELECT id, 'RUNNING', 'COMPLETED', attempt, $3 FROM done
), refused AS (
    -- A late outcome (lease expired, task cancelled) changes nothing but is recorded.
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, status, status, $2, $3, 'refused: late COMPLETED from attempt ' || $2 || ', current is ' || attempt
    FROM tasks WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM done)
)
SELECT count(*) FROM done

-- name: fail
-- $5 is RETRYING or PERMANENT_FAILURE, decided by the retry policy from the claimed snapshot.
WITH failed AS (
    UPDATE tasks
    SET status = $5, retry_count = $6, last_error = $4, updated_at = now(), lease_expires_at = NULL,
        run_after = now() + make_interval(secs => $7),
        completed_at = CASE WHEN $5 = 'PERMANENT_FAILURE' THEN now() END
    WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
    RETURNING *
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, 'RUNNING', status, attempt, $3, $4 FROM failed
), refused AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, status, status, $2, $3, 'refused: late failure from attempt ' || $2 || ', current is ' || attempt
    FROM tasks WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM failed)
)
SELECT * FROM failed

-- name: release
WITH released AS (
    UPDATE tasks
    SET status = 'PENDING', updated_at = now(), lease_expires_at = NULL, run_after = now()
    WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
    RETURNING id, attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, 'RUNNING', 'PENDING', attempt, $3, 'released by a draining worker' FROM released
)
SELECT count(*) FROM released

-- name: promote
-- RETRYING → PENDING for the due ones; report every id's lane and whether it is ready.
WITH promoted AS (
    UPDATE tasks
    SET status = 'PENDING', updated_at = now()
    WHERE id = ANY($1::uuid[]) AND status = 'RETRYING' AND run_after <= now()
    RETURNING id, attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, 'RETRYING', 'PENDING', attempt, 'backoff elapsed' FROM promoted
)
SELECT t.id, t.priority,
       CASE WHEN p.id IS NOT NULL THEN 'PENDING' ELSE t.status END AS status,
       t.run_after <= now() AS due
FROM tasks AS t LEFT JOIN promoted AS p ON p.id = t.id
WHERE t.id = ANY($1::uuid[])

-- name: expired_leases
-- RUNNING tasks whose worker stopped heartbeating: each counts as a failed attempt.
SELECT * FROM tasks WHERE status = 'RUNNING' AND lease_expires_at < now() ORDER BY lease_expires_at LIMIT $1

-- name: stale_pending
-- PENDING and due for longer than $1 seconds: by now each should have been in a lane and claimed.
SELECT id, priority FROM tasks
WHERE status = 'PENDING' AND run_after < now() - make_interval(secs => $1)
  AND updated_at < now() - make_interval(secs => $1)
ORDER BY id LIMIT $2

-- name: count_stale_pending
SELECT count(*) FROM tasks
WHERE status = 'PENDING' AND run_after < now() - make_interval(secs => $1)
  AND updated_at < now() - make_interval(secs => $1)

-- name: stale_retrying
-- RETRYING although the backoff ended more than $1 seconds ago: the timer was lost.
SELECT id, run_after FROM tasks
WHERE status = 'RETRYING' AND run_after < now() - make_interval(secs => $1)
ORDER BY run_after LIMIT $2

-- name: set_cancelled
UPDATE tasks
SET status = 'CANCELLED', completed_at = now(), updated_at = now(), lease_expires_at = NULL
WHERE id = $1
RETURNING *

-- name: set_requeued
UPDATE tasks
SET status = 'PENDING', retry_count = 0, result = NULL, completed_at = NULL, started_at = NULL,
    worker_id = NULL, run_after = now(), updated_at = now()
WHERE id = $1
RETURNING *

-- name: log_event
INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
VALUES ($1, $2, $3, $4, $5, $6)

-- name: record_worker
INSERT INTO workers (id, host, pid, concurrency, in_flight)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET in_flight = excluded.in_flight, concurrency = excluded.concurrency,
                               last_seen = now()

-- name: remove_worker
DELETE FROM workers WHERE id = $1

-- name: list_workers
SELECT * FROM workers WHERE last_seen > now() - make_interval(secs => $1) ORDER BY started_at

-- name: migration_lock
SELECT pg_advisory_xact_lock(7408353510716)

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: applied_versions
SELECT version FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name) VALUES ($1, $2)
