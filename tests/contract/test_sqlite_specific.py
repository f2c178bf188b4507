"""What only the SQLite store has to get right: its own migrations and unusable paths."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from agentmesh.errors import StoreUnavailable
from agentmesh.migrations import Migration, load_migrations
from agentmesh.store import sqlite
from agentmesh.store.sqlite import SqliteStore


async def test_a_failing_migration_leaves_nothing_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = len(load_migrations("sqlite")) + 1
    broken = Migration(version, "broken", "CREATE TABLE half_done (id INTEGER);\nSELECT * FROM no_such_table;")
    monkeypatch.setattr(sqlite, "load_migrations", lambda backend: [*load_migrations(backend), broken])
    store = SqliteStore(str(tmp_path / "fresh.db"))
    await store.open()
    try:
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            await store.migrate()
        assert await store.pending_migrations() == [version]  # the real ones committed each on its own
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "fresh.db")
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchall() == []
    finally:
        conn.close()


@pytest.mark.parametrize("relative", ["missing/dir/mesh.db", "."])
async def test_open_on_an_unusable_path_is_store_unavailable(tmp_path: Path, relative: str) -> None:
    path = str(tmp_path / relative)
    with pytest.raises(StoreUnavailable, match="cannot open SQLite database") as info:
        await SqliteStore(path).open()
    assert path in str(info.value) and "\n" not in str(info.value)


async def test_open_on_a_read_only_file_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "mesh.db"
    path.touch(mode=0o444)
    if os.access(path, os.W_OK):
        pytest.skip("root ignores file modes here; tests/acceptance/test_dev.py covers this as another user")
    with pytest.raises(StoreUnavailable, match="readonly"):
        await SqliteStore(str(path)).open()
