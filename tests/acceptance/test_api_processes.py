"""`agentmesh api --processes N`: children share the port and their metrics; the parent supervises them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agentmesh.config import Settings
from tests.procs import Processes

WRITER = {"agent_type": "CEDRIC_WRITER", "payload": {"topic": "processes"}}


def api_children(parent: int) -> list[int]:
    """The API processes the parent spawned (not multiprocessing's resource tracker)."""
    found = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in found if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def metrics_dir_of(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(found[0].decode())


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """A process that cannot accept connections meanwhile: its sibling must serve them all."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def submitted_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text  # a new connection: any of the processes may answer
    found = re.search(r'^agentmesh_tasks_submitted_total\{agent_type="CEDRIC_WRITER"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def wait_exit(pids: list[int], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.fixture
def two_processes(procs: Processes, settings: Settings) -> tuple[str, int, list[int]]:
    url = procs.api(settings, ("--processes", "2"))
    parent = procs.pids("api")[0]
    deadline = time.monotonic() + 20
    while procs.logs().count("Application startup complete") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = api_children(parent)
    assert len(children) == 2, procs.logs()
    return url, parent, children


def test_every_process_serves_and_any_of_them_reports_the_counts_of_all(
    two_processes: tuple[str, int, list[int]],
) -> None:
    url, _, (first, second) = two_processes
    for asleep in (first, second):  # each in turn is the only one accepting: both serve 10
        with stopped(asleep):
            for _ in range(10):
                assert httpx.post(f"{url}/tasks", json=WRITER, timeout=10).status_code == 201
    for asleep in (first, second):  # and each reports what both counted
        with stopped(asleep):
            assert submitted_total(url) == 20.0


def test_a_signal_stops_every_process(two_processes: tuple[str, int, list[int]], procs: Processes) -> None:
    _, parent, children = two_processes
    os.kill(parent, signal.SIGTERM)
    assert procs.children[0][0].wait(20) == 0, procs.logs()
    assert wait_exit(children), procs.logs()


def test_children_of_a_parent_killed_outright_stop_by_themselves(
    two_processes: tuple[str, int, list[int]], procs: Processes
) -> None:
    _, parent, children = two_processes
    metrics_dir = metrics_dir_of(children[0])
    os.kill(parent, signal.SIGKILL)
    assert wait_exit(children), procs.logs()
    assert "is gone: stopping" in procs.logs()
    shutil.rmtree(metrics_dir)  # the killed parent could not remove it


def test_a_child_that_dies_stops_the_others_and_the_parent_fails(
    two_processes: tuple[str, int, list[int]], procs: Processes
) -> None:
    _, _, (first, second) = two_processes
    os.kill(first, signal.SIGKILL)
    assert procs.children[0][0].wait(20) == 1, procs.logs()
    assert wait_exit([second]), procs.logs()
    assert "exited with -9: stopping the other API processes" in procs.logs()
