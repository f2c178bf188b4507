"""A load generator against a running mesh, over the Producer API (what `agentmesh bench` runs).

Three phases:

1. **Enqueue** `tasks` tasks, either as `POST /tasks/batch` requests of `batch_size` tasks or as one
   `POST /tasks` each, from `clients` concurrent clients, each on its own keep-alive connection; as fast
   as possible, or at a fixed offered load of `rate` tasks/s (each request is due at its slot on a
   fixed schedule; a request that is due while every client is busy goes out as soon as one frees).
   Every request's latency is measured on the client; a non-2xx answer or a transport error is
   counted by code and the run goes on.
2. **Wait** (unless `wait=False`): poll `GET /queues` and follow the number of terminal tasks minus
   the number before the run (the mesh may hold older tasks) until it reaches the number accepted,
   or the timeout.
3. **Records**: read the accepted tasks back to compute submit→start (`started_at - created_at`) and
   submit→finish (`completed_at - created_at`) from the server's own timestamps, so client clock
   and polling interval do not enter the figures. Rather than one `GET /tasks/{id}` per task (10,000
   round trips), it pages `GET /tasks?agent_type=…&limit=1000&cursor=…`, newest first, keeping the
   ids it submitted: ids are UUIDv7 and pages are ordered by id, so once a page ends below the
   smallest submitted id no later page can hold one of ours and the walk stops. That is exact (no
   sampling) and costs about `tasks / 1000` requests plus one page per 1,000 tasks submitted by
   others since. If the `/queues` delta was inflated by older tasks finishing meanwhile, the records
   show some of ours still moving; they are read again until all are terminal or the timeout.

`run_bench` returns a `BenchResult`; rendering is the caller's business (see `agentmesh.cli.bench`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import httpx

from agentmesh.agents.personas import PERSONAS
from agentmesh.domain.task import TERMINAL
from agentmesh.errors import AgentMeshError

Mode = Literal["batch", "single"]
MAX_BATCH = 1000  # the API's own limit (agentmesh.api.schemas.MAX_BATCH)
PAGE = 1000  # the API's largest listing page
DEFAULT_AGENT = "CEDRIC_WRITER"
NO_OP_PAYLOAD: dict[str, Any] = {"simulate": {"duration_ms": 0, "fail_attempts": 0, "fail_rate": 0.0}}
TERMINAL_NAMES = frozenset(status.value for status in TERMINAL)
POLL_SECONDS = 0.25
RETRIES = 8  # tries of one poll or page read once the run is under way

# on_progress(phase, done, total): phase is "enqueue", "wait" or "records".
ProgressHook = Callable[[str, int, int], None]


class BenchError(AgentMeshError):
    """The benchmark cannot start: bad options, the API unreachable or refusing us."""


def default_payload(agent_type: str) -> dict[str, Any]:
    """Zero duration, zero failure for the built-in personas; an empty payload for any other agent."""
    return dict(NO_OP_PAYLOAD) if agent_type in PERSONAS else {}


@dataclass(frozen=True)
class BenchConfig:
    url: str
    api_key: str | None = None
    tasks: int = 10_000
    agent_type: str = DEFAULT_AGENT
    payload: dict[str, Any] | None = None  # None: `default_payload(agent_type)`
    mode: Mode = "batch"
    batch_size: int = 500
    clients: int | None = None  # concurrent requests; None: 64 for single, 4 for batch
    rate: float | None = None  # offered load in tasks/s; None: as fast as possible
    timeout: float = 600.0  # seconds to wait for the tasks to finish
    wait: bool = True
    request_timeout: float = 60.0

    @property
    def concurrency(self) -> int:
        if self.clients is not None:
            return self.clients
        return 64 if self.mode == "single" else 4

    def check(self) -> None:
        """Raise BenchError naming the first bad option."""
        if self.tasks <= 0:
            raise BenchError(f"--tasks must be at least 1 (got {self.tasks})")
        if self.mode not in ("batch", "single"):
            raise BenchError(f"--mode must be batch or single (got {self.mode!r})")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise BenchError(f"--batch-size must be between 1 and {MAX_BATCH} (got {self.batch_size})")
        if self.concurrency < 1:
            raise BenchError(f"--clients must be at least 1 (got {self.concurrency})")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise BenchError(f"--rate must be a positive number of tasks per second (got {self.rate})")
        if not self.timeout > 0:
            raise BenchError(f"--timeout must be positive (got {self.timeout})")
        if not self.url.startswith(("http://", "https://")):
            raise BenchError(f"--url must start with http:// or https:// (got {self.url!r})")


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds; all None when nothing was measured."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        ordered = sorted(values)
        if not ordered:
            return cls(0, None, None, None, None, None)
        p50, p90, p99, p999 = (quantile(ordered, q) for q in (0.5, 0.9, 0.99, 0.999))
        return cls(len(ordered), p50, p90, p99, p999, ordered[-1])

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p90": self.p90, "p99": self.p99, "p99.9": self.p999,
                "max": self.max}  # fmt: skip


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) on sorted values."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class BenchResult:
    mode: Mode
    agent_type: str
    tasks: int  # requested
    submitted: int  # accepted by the API (2xx)
    clients: int
    batch_size: int | None
    rate: float | None
    requests: int
    enqueue_seconds: float
    request_latency_ms: Percentiles
    errors: dict[str, int]  # submissions answered non-2xx (by status code) or lost in transport (by exception)
    error_samples: dict[str, str]  # the first message seen for each of those codes
    waited: bool
    timed_out: bool = False
    records: int = 0  # submitted tasks read back
    by_status: dict[str, int] = field(default_factory=dict)
    drain_seconds: float | None = None  # first submit to last terminal, server clock
    submit_to_start_ms: Percentiles = field(default_factory=lambda: Percentiles.of([]))
    submit_to_finish_ms: Percentiles = field(default_factory=lambda: Percentiles.of([]))

    @property
    def enqueue_rate(self) -> float:
        return self.submitted / self.enqueue_seconds if self.enqueue_seconds > 0 else 0.0

    @property
    def terminal(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in TERMINAL_NAMES)

    @property
    def drain_rate(self) -> float | None:
        if not self.drain_seconds or not self.terminal:
            return None
        return self.terminal / self.drain_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "agent_type": self.agent_type, "tasks": self.tasks, "submitted": self.submitted,
            "clients": self.clients, "batch_size": self.batch_size, "rate": self.rate,
            "enqueue": {
                "requests": self.requests, "seconds": self.enqueue_seconds, "tasks_per_s": self.enqueue_rate,
                "request_latency_ms": self.request_latency_ms.to_json(),
            },
            "errors": self.errors, "error_samples": self.error_samples,
            "waited": self.waited, "timed_out": self.timed_out, "records": self.records,
            "by_status": self.by_status, "terminal": self.terminal,
            "drain": {"seconds": self.drain_seconds, "tasks_per_s": self.drain_rate},
            "submit_to_start_ms": self.submit_to_start_ms.to_json(),
            "submit_to_finish_ms": self.submit_to_finish_ms.to_json(),
        }  # fmt: skip


# -- the run --------------------------------------------------------------------------------
@dataclass
class _Enqueued:
    ids: list[uuid.UUID] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # the first message seen for each error code
    requests: int = 0

    def error(self, code: str, message: str) -> None:
        self.errors[code] += 1
        self.samples.setdefault(code, message)


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


async def run_bench(config: BenchConfig, on_progress: ProgressHook = _no_progress) -> BenchResult:
    """Run the three phases against `config.url`; raise BenchError if the run cannot start."""
    config.check()
    payload = config.payload if config.payload is not None else default_payload(config.agent_type)
    clients = config.concurrency
    async with _http(config, 2) as http:
        await _check_agent(http, config)
        before = await _status_counts(http, config.url)
        started = time.perf_counter()
        enqueued = await _enqueue(config, payload, clients, on_progress)
        enqueue_seconds = time.perf_counter() - started
        result = BenchResult(
            mode=config.mode, agent_type=config.agent_type, tasks=config.tasks, submitted=len(enqueued.ids),
            clients=clients, batch_size=config.batch_size if config.mode == "batch" else None, rate=config.rate,
            requests=enqueued.requests, enqueue_seconds=enqueue_seconds,
            request_latency_ms=Percentiles.of(enqueued.latencies_ms), errors=dict(sorted(enqueued.errors.items())),
            error_samples=dict(sorted(enqueued.samples.items())),
            waited=config.wait,
        )  # fmt: skip
        if not config.wait or not enqueued.ids:
            return result
        deadline = time.monotonic() + config.timeout
        await _wait_terminal(http, config.url, before, len(enqueued.ids), deadline, on_progress)
        return await _measure(http, config, enqueued.ids, deadline, result, on_progress)


def _http(config: BenchConfig, connections: int, tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """A client on `connections` keep-alive connections; pass one `tls` context to many clients (each new
    client would otherwise load the CA bundle again, ~30 ms)."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=config.url, headers=headers, limits=limits, verify=tls or True,
                             timeout=httpx.Timeout(config.request_timeout))  # fmt: skip


async def _get_json(http: httpx.AsyncClient, url: str, path: str, *, attempts: int = 1, **params: Any) -> Any:
    """A GET the run cannot do without: a failure is a BenchError, after `attempts` tries for a 5xx or a
    transport error (the polls of a long run ride out a short outage; the checks before it do not)."""
    for attempt in range(1, attempts + 1):
        try:
            response = await http.get(path, params=params)
        except httpx.HTTPError as exc:
            if attempt < attempts:
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
                continue
            raise BenchError(f"cannot reach the AgentMesh API at {url}: {_describe(exc)}") from None
        if response.status_code >= 500 and attempt < attempts:
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
            continue
        if response.status_code >= 400:
            raise BenchError(f"GET {path}: {response.status_code}: {_message(response)}")
        return response.json()
    raise AssertionError("unreachable")  # pragma: no cover


def _message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message", response.text)
    except (ValueError, AttributeError):
        message = response.text
    return str(message).splitlines()[0][:300] if message else f"HTTP {response.status_code}"


async def _check_agent(http: httpx.AsyncClient, config: BenchConfig) -> None:
    agents = await _get_json(http, config.url, "/agents")
    known = sorted(item["agent_type"] for item in agents["items"])
    if config.agent_type not in known:
        raise BenchError(f"unknown agent type {config.agent_type!r}; the API knows {', '.join(known) or 'none'}")


async def _status_counts(http: httpx.AsyncClient, url: str, attempts: int = 1) -> dict[str, int]:
    counts: dict[str, int] = (await _get_json(http, url, "/queues", attempts=attempts))["by_status"]
    return counts


def _units(config: BenchConfig) -> list[int]:
    """Tasks per request, in sending order."""
    if config.mode == "single":
        return [1] * config.tasks
    full, rest = divmod(config.tasks, config.batch_size)
    return [config.batch_size] * full + ([rest] if rest else [])


async def _enqueue(config: BenchConfig, payload: dict[str, Any], clients: int, on_progress: ProgressHook) -> _Enqueued:
    """Each client has its own keep-alive connection: one shared pool of N connections costs O(N) CPU per
    request in httpcore (encode/httpcore#1035), which would make the load generator the bottleneck."""
    units = _units(config)
    task: dict[str, Any] = {"agent_type": config.agent_type, "payload": payload}
    # When each request is due: tasks sent before it / rate (None: at once).
    offsets = [sent / config.rate if config.rate else 0.0 for sent in itertools.accumulate([0, *units[:-1]])]
    queue: Iterator[tuple[int, float]] = iter(zip(units, offsets, strict=True))  # shared by the clients
    state = _Enqueued()
    attempted = 0
    on_progress("enqueue", 0, config.tasks)
    t0 = time.perf_counter()

    tls = ssl.create_default_context()

    async def client() -> None:
        async with _http(config, 1, tls) as http:
            await send(http)

    async def send(http: httpx.AsyncClient) -> None:
        nonlocal attempted
        for size, offset in queue:
            delay = t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if config.mode == "single":
                path, body = "/tasks", task
            else:
                path, body = "/tasks/batch", {"tasks": [task] * size}
            sent = time.perf_counter()
            try:
                response = await http.post(path, json=body)
            except httpx.HTTPError as exc:
                state.error(type(exc).__name__, _describe(exc))
            else:
                if 200 <= response.status_code < 300:
                    answer = response.json()
                    items = answer["items"] if config.mode == "batch" else [answer]
                    state.ids.extend(uuid.UUID(item["id"]) for item in items)
                else:
                    state.error(str(response.status_code), _message(response))
            state.latencies_ms.append((time.perf_counter() - sent) * 1000)
            state.requests += 1
            attempted += size
            on_progress("enqueue", attempted, config.tasks)

    await asyncio.gather(*(client() for _ in range(min(clients, len(units)))))
    return state


async def _wait_terminal(
    http: httpx.AsyncClient, url: str, before: dict[str, int], submitted: int, deadline: float,
    on_progress: ProgressHook,
) -> None:  # fmt: skip
    """Poll `/queues` until the terminal count grew by `submitted`, or the deadline."""
    terminal_before = sum(n for status, n in before.items() if status in TERMINAL_NAMES)
    while True:
        counts = await _status_counts(http, url, attempts=RETRIES)
        done = sum(n for status, n in counts.items() if status in TERMINAL_NAMES) - terminal_before
        on_progress("wait", max(0, min(done, submitted)), submitted)
        if done >= submitted or time.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL_SECONDS)


async def _read_records(
    http: httpx.AsyncClient, config: BenchConfig, ids: list[uuid.UUID], on_progress: ProgressHook
) -> dict[uuid.UUID, dict[str, Any]]:
    """Page the listing newest first, keeping our ids, until all found or past the oldest one."""
    wanted, lowest = set(ids), min(ids)
    found: dict[uuid.UUID, dict[str, Any]] = {}
    cursor: str | None = None
    on_progress("records", 0, len(wanted))
    while True:
        params: dict[str, Any] = {"agent_type": config.agent_type, "limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = await _get_json(http, config.url, "/tasks", attempts=RETRIES, **params)
        for item in page["items"]:
            task_id = uuid.UUID(item["id"])
            if task_id in wanted:
                found[task_id] = item
        on_progress("records", len(found), len(wanted))
        cursor = page["next"]
        if len(found) == len(wanted) or not cursor or not page["items"] or uuid.UUID(cursor) <= lowest:
            return found


async def _measure(
    http: httpx.AsyncClient, config: BenchConfig, ids: list[uuid.UUID], deadline: float, result: BenchResult,
    on_progress: ProgressHook,
) -> BenchResult:  # fmt: skip
    while True:
        records = await _read_records(http, config, ids, on_progress)
        moving = len(ids) - sum(1 for item in records.values() if item["status"] in TERMINAL_NAMES)
        if not moving or time.monotonic() >= deadline:
            break
        on_progress("wait", len(ids) - moving, len(ids))
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    to_start: list[float] = []
    to_finish: list[float] = []
    created: list[float] = []
    finished: list[float] = []
    for item in records.values():
        submit = _timestamp(item["created_at"])
        created.append(submit)
        if item["started_at"]:
            to_start.append((_timestamp(item["started_at"]) - submit) * 1000)
        if item["status"] in TERMINAL_NAMES:
            end = _timestamp(item["completed_at"] or item["updated_at"])
            finished.append(end)
            to_finish.append((end - submit) * 1000)
    by_status = Counter(item["status"] for item in records.values())
    unseen = len(ids) - len(records)
    if unseen:
        by_status["NOT_FOUND"] = unseen
    return replace(
        result, timed_out=moving > 0, records=len(records), by_status=dict(sorted(by_status.items())),
        drain_seconds=max(finished) - min(created) if finished else None,
        submit_to_start_ms=Percentiles.of(to_start), submit_to_finish_ms=Percentiles.of(to_finish),
    )  # fmt: skip


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__
