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
    RETURNING id, created_at, run_after
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, NULL, 'PENDING', 0, 'submitted' FROM inserted
)
SELECT id, created_at, run_after FROM inserted

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

-- name: count_with_status
SELECT count(*) FROM tasks WHERE status = $1

-- name: claim_many
-- Compare-and-set on a batch: only PENDING, due tasks are claimed; the attempt counter fences
-- later writes. $1 comes sorted and distinct. Each id is looked up by key in a LATERAL subquery
-- (never flattened, because it locks): statistics of a queue table are always stale, and a
-- plan that scanned every PENDING row instead would make each claim cost O(queue depth).
-- A row another transaction holds is skipped: its holder is claiming, cancelling or re-pushing it.
-- Row locks here are NO KEY UPDATE, the lock an UPDATE that keeps the key takes anyway: it does
-- not conflict with the KEY SHARE locks of foreign-key checks (a workflow adding dependency edges).
WITH candidates AS (
    SELECT t.id
    FROM unnest($1::uuid[]) AS input (id),
         LATERAL (SELECT id FROM tasks
                  WHERE tasks.id = input.id AND status = 'PENDING' AND run_after <= now()
                  FOR NO KEY UPDATE SKIP LOCKED) AS t
), claimed AS (
    UPDATE tasks
    SET status = 'RUNNING', attempt = attempt + 1, worker_id = $2,
        lease_expires_at = now() + make_interval(secs => $3), started_at = now(), updated_at = now()
    WHERE id = ANY (ARRAY(SELECT id FROM candidates))  -- locked and PENDING; by key whatever the statistics
    RETURNING *
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id)
    SELECT id, 'PENDING', 'RUNNING', attempt, $2 FROM claimed
)
SELECT * FROM claimed

-- name: extend_leases
-- $1 comes sorted and distinct: rows are locked in id order, so concurrent batches cannot deadlock.
-- The update then finds the locked rows by key (an array, never a per-row `= ANY` filter: with
-- thousands of tasks in flight that filter alone made a heartbeat quadratic).
WITH held AS (
    SELECT * FROM unnest($1::uuid[], $2::int[]) AS t (id, attempt)
), locked AS (
    SELECT t.id
    FROM held,
         LATERAL (SELECT id FROM tasks
                  WHERE tasks.id = held.id AND attempt = held.attempt AND status = 'RUNNING'
                  FOR NO KEY UPDATE) AS t
)
UPDATE tasks
SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = ANY (ARRAY(SELECT id FROM locked))
RETURNING id

-- name: complete_many
-- Group commit of many outcomes, each fenced by its attempt. $1 comes sorted and distinct, so
-- rows are locked in id order and concurrent batches (heartbeats, reapers) cannot deadlock; the
-- lock also reads the latest version, so a reaper committing meanwhile is seen and its audit
-- row gets a lower id than ours.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::jsonb[]) AS t (id, attempt, result)
), locked AS (
    SELECT t.*, input.attempt AS tried
    FROM input, LATERAL (SELECT id, status, attempt FROM tasks WHERE tasks.id = input.id FOR NO KEY UPDATE) AS t
), current AS (
    -- The fence reads the locked (latest) version of each row.
    SELECT id FROM locked WHERE status = 'RUNNING' AND attempt = tried
), done AS (
    UPDATE tasks
    SET status = 'COMPLETED', result = input.result, completed_at = now(), updated_at = now(),
        lease_expires_at = NULL
    FROM input JOIN current USING (id)
    -- Driven by the few locked rows, looked up by key: a status test on tasks here could scan
    -- every RUNNING task when statistics are stale, and a per-row `= ANY` filter is quadratic.
    WHERE tasks.id = current.id
    RETURNING tasks.id, tasks.attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id)
    SELECT id, 'RUNNING', 'COMPLETED', attempt, $4 FROM done
), refused AS (
    -- A late outcome (lease expired, task cancelled) changes nothing but is recorded.
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, status, status, tried, $4,
           'refused: late COMPLETED from attempt ' || tried || ', current is ' || attempt
    FROM locked
    WHERE id NOT IN (SELECT id FROM current)
)
SELECT id FROM done

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
), current AS (
    SELECT id, status, attempt FROM tasks WHERE id = $1 FOR SHARE
), refused AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, worker_id, detail)
    SELECT id, status, status, $2, $3, 'refused: late failure from attempt ' || $2 || ', current is ' || attempt
    FROM current WHERE NOT EXISTS (SELECT 1 FROM failed)
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
-- Looked up by key like claim_many; a row another scheduler holds is left to it.
WITH due AS (
    SELECT t.id
    FROM unnest($1::uuid[]) AS input (id),
         LATERAL (SELECT id FROM tasks
                  WHERE tasks.id = input.id AND status = 'RETRYING' AND run_after <= now()
                  FOR NO KEY UPDATE SKIP LOCKED) AS t
), promoted AS (
    UPDATE tasks
    SET status = 'PENDING', updated_at = now()
    WHERE id = ANY (ARRAY(SELECT id FROM due))
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

-- name: insert_workflow
INSERT INTO workflows (id, name, idempotency_key, request_hash)
VALUES ($1, $2, $3, $4)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id

-- name: workflow_by_idempotency_key
SELECT id, request_hash FROM workflows WHERE idempotency_key = $1

-- name: insert_steps
-- Steps of workflow $1: WAITING while $9[i] dependencies are unfinished, else PENDING.
WITH input AS (
    SELECT *
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::text[], $8::float8[], $9::int[])
        AS t (id, agent_type, priority, payload, max_retries, step_id, delay, pending_deps)
), inserted AS (
    INSERT INTO tasks (id, agent_type, priority, payload, status, max_retries, run_after, workflow_id, step_id,
                       pending_deps)
    SELECT id, agent_type, priority, payload, CASE WHEN pending_deps > 0 THEN 'WAITING' ELSE 'PENDING' END,
           max_retries, now() + make_interval(secs => delay), $1, step_id, pending_deps
    FROM input
    RETURNING *
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, NULL, status, 0, 'submitted' FROM inserted
)
SELECT * FROM inserted

-- name: insert_dependencies
INSERT INTO task_dependencies (task_id, depends_on)
SELECT * FROM unnest($1::uuid[], $2::uuid[])

-- name: release_dependents
-- A step completed: dependents lose one pending dependency; those at zero become PENDING.
WITH ready AS (
    UPDATE tasks
    SET pending_deps = pending_deps - 1,
        status = CASE WHEN pending_deps = 1 THEN 'PENDING' ELSE status END,
        run_after = CASE WHEN pending_deps = 1 THEN now() ELSE run_after END,
        updated_at = now()
    WHERE status = 'WAITING' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on = $1)
    RETURNING id, priority, status, attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, 'WAITING', 'PENDING', attempt, 'dependencies completed' FROM ready WHERE status = 'PENDING'
)
SELECT id, priority FROM ready WHERE status = 'PENDING'

-- name: settle_dependents
-- Every step downstream of $1 still WAITING becomes $2 (SKIPPED after a failure, CANCELLED after a cancel).
WITH RECURSIVE downstream (id) AS (
    SELECT task_id FROM task_dependencies WHERE depends_on = $1
    UNION
    SELECT d.task_id FROM task_dependencies AS d JOIN downstream ON d.depends_on = downstream.id
), settled AS (
    UPDATE tasks
    SET status = $2, updated_at = now(), completed_at = now()
    WHERE id IN (SELECT id FROM downstream) AND status = 'WAITING'
    RETURNING id, attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, 'WAITING', $2, attempt, $3 FROM settled
)
SELECT count(*) FROM settled

-- name: resume_dependents
-- The failed step $1 was requeued: SKIPPED steps downstream wait again for what is unfinished.
WITH RECURSIVE downstream (id) AS (
    SELECT task_id FROM task_dependencies WHERE depends_on = $1
    UNION
    SELECT d.task_id FROM task_dependencies AS d JOIN downstream ON d.depends_on = downstream.id
), resumed AS (
    UPDATE tasks AS t
    SET status = 'WAITING', completed_at = NULL, updated_at = now(),
        pending_deps = (SELECT count(*) FROM task_dependencies AS d JOIN tasks AS dep ON dep.id = d.depends_on
                        WHERE d.task_id = t.id AND dep.status <> 'COMPLETED')
    WHERE t.id IN (SELECT id FROM downstream) AND t.status = 'SKIPPED'
    RETURNING t.id, t.attempt
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, 'SKIPPED', 'WAITING', attempt, 'dependency requeued' FROM resumed
)
SELECT count(*) FROM resumed

-- name: dependency_results
SELECT dep.step_id, dep.result
FROM task_dependencies AS d JOIN tasks AS dep ON dep.id = d.depends_on
WHERE d.task_id = $1

-- name: workflow_rows
-- The status is derived from the steps, never stored: it cannot drift from them. A step that
-- failed for good or was cancelled on its own fails the workflow (a requeue resumes it).
SELECT * FROM (
    SELECT w.*, CASE
            WHEN w.cancelled_at IS NOT NULL THEN 'CANCELLED'
            WHEN bool_or(t.status IN ('PERMANENT_FAILURE', 'CANCELLED')) THEN 'FAILED'
            WHEN bool_and(t.status = 'COMPLETED') THEN 'COMPLETED'
            ELSE 'RUNNING' END AS status
    FROM workflows AS w JOIN tasks AS t ON t.workflow_id = w.id
    WHERE ($1::uuid IS NULL OR w.id = $1) AND ($2::uuid IS NULL OR w.id < $2)
    GROUP BY w.id
) AS derived
WHERE $3::text IS NULL OR status = $3
ORDER BY id DESC
LIMIT $4

-- name: workflow_steps
SELECT * FROM tasks WHERE workflow_id = $1 ORDER BY id

-- name: workflow_edges
SELECT t.step_id AS step, dep.step_id AS depends_on
FROM tasks AS t
JOIN task_dependencies AS d ON d.task_id = t.id
JOIN tasks AS dep ON dep.id = d.depends_on
WHERE t.workflow_id = $1

-- name: cancel_workflow_steps
WITH cancelled AS (
    UPDATE tasks AS t
    SET status = 'CANCELLED', completed_at = now(), updated_at = now(), lease_expires_at = NULL
    FROM (SELECT id, status FROM tasks WHERE workflow_id = $1 FOR UPDATE) AS old
    WHERE t.id = old.id AND old.status IN ('WAITING', 'PENDING', 'RETRYING', 'RUNNING', 'SKIPPED')
    RETURNING t.id, t.attempt, old.status AS previous
), logged AS (
    INSERT INTO task_events (task_id, from_status, to_status, attempt, detail)
    SELECT id, previous, 'CANCELLED', attempt, 'workflow cancelled' FROM cancelled
)
SELECT id FROM cancelled

-- name: lock_tasks
SELECT id, step_id, status FROM tasks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE

-- name: mark_workflow_cancelled
UPDATE workflows SET cancelled_at = now() WHERE id = $1
