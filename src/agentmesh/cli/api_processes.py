"""`agentmesh api --processes N`: several API processes sharing one listening socket.

One API process is bound by one core (FastAPI and uvicorn cost a few hundred µs per request).
The API keeps no state of its own, so more processes serve more requests: the parent binds the
socket once, checks the broker against the store once, then starts N children with the spawn
method, which accept from the same socket and are balanced by the kernel.

The parent supervises: a first SIGTERM/SIGINT is passed on to every child (each drains as a
single `agentmesh api` does, a second signal ends them at once); a child that dies on its own
stops the others and makes the parent exit non-zero, for the service manager to restart the lot.

Prometheus counters are per process. The children share a fresh `PROMETHEUS_MULTIPROC_DIR`
(set before they import `prometheus_client`), so `/metrics` from any of them sums them all.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from agentmesh.cli.runtime import run_async
from agentmesh.cli.serve import adopt_broker_once, serve_child
from agentmesh.config import Settings
from agentmesh.metrics import MULTIPROCESS_DIR_ENV

log = logging.getLogger("agentmesh")


def serve_processes(settings: Settings, log_level: str, processes: int) -> None:
    """Run `processes` API children on one socket until a signal or a child's death; exit code as `sys.exit`."""
    run_async(adopt_broker_once(settings))
    listener = bind(settings)
    spawn = multiprocessing.get_context("spawn")
    with shared_metrics_dir():
        children = [
            spawn.Process(target=serve_child, args=(settings, log_level, listener), name=f"agentmesh-api-{n}")
            for n in range(processes)
        ]
        for child in children:
            child.start()
        listener.close()  # the children hold it now
        log.info("API on %s:%d in %d processes", settings.host, settings.port, processes)
        code = supervise(children)
    if code:
        sys.exit(code)


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound as uvicorn binds its own (IPv4 or IPv6, SO_REUSEADDR)."""
    config = uvicorn.Config(app="agentmesh:unused", host=settings.host, port=settings.port)  # only the address
    listener: socket.socket = config.bind_socket()
    return listener


@contextmanager
def shared_metrics_dir() -> Iterator[None]:
    """A fresh directory for the children's metric files, removed when they are gone."""
    directory = tempfile.mkdtemp(prefix="agentmesh-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR_ENV)
    os.environ[MULTIPROCESS_DIR_ENV] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR_ENV, None)
        else:
            os.environ[MULTIPROCESS_DIR_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def supervise(children: Sequence[BaseProcess]) -> int:
    """Wait for the children; pass signals on; one dying unasked stops the rest. Returns the exit code."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    code = 0
    running = list(children)
    while running:
        wait([child.sentinel for child in running])
        for child in [child for child in running if child.exitcode is not None]:
            running.remove(child)
            if not stopping:
                log.error("%s exited with %s: stopping the other API processes", child.name, child.exitcode)
                code = 1
                stop(signal.SIGTERM, None)
            elif child.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT):  # not ended by the signal passed on
                code = 1
    return code
