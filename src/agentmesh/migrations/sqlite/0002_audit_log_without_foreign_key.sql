-- The audit log is written only in the transaction that changes its task, so the foreign key
-- guards nothing our writes could break, and costs a lookup per transition. SQLite cannot
-- drop a constraint: the table is rebuilt with the same rows, index and triggers.
CREATE TABLE task_events_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    detail      TEXT
);

INSERT INTO task_events_new SELECT * FROM task_events;
DROP TABLE task_events;
ALTER TABLE task_events_new RENAME TO task_events;

CREATE INDEX task_events_task ON task_events (task_id, id);

CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;

CREATE TRIGGER task_events_no_delete BEFORE DELETE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;
