"""Retry policy: a pure decision from (failures so far, limits) to what happens next."""

from __future__ import annotations

import random
from dataclasses import dataclass

from agentmesh.domain.task import TaskStatus


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`base ** n` seconds before the n-th retry, capped at `cap`, stretched by up to `jitter`.

    Jitter only lengthens a wait (never shortens it), so a retry never runs before
    `base ** n` and a herd of failures still spreads out.
    """

    base: float = 2.0
    cap: float = 600.0
    jitter: float = 0.1

    def delay(self, retry_count: int, rng: random.Random | None = None) -> float:
        raw = min(self.cap, self.base**retry_count)
        spread = (rng or random).uniform(0.0, self.jitter) if self.jitter else 0.0
        return min(self.cap, raw * (1.0 + spread))


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """What a failed attempt becomes: the new status, the new count and the wait."""

    status: TaskStatus
    retry_count: int
    delay: float


def decide_failure(
    retry_count: int,
    max_retries: int,
    policy: RetryPolicy,
    *,
    retry_delay: float | None = None,
    give_up: bool = False,
) -> FailureDecision:
    """Each failure increments `retry_count`; past `max_retries` the task is dead.

    `retry_delay` overrides the backoff (an agent raised `Retry(delay=…)`); `give_up`
    skips remaining retries (an agent raised `Abort`).
    """
    failures = retry_count + 1
    if give_up or failures > max_retries:
        return FailureDecision(TaskStatus.PERMANENT_FAILURE, failures, 0.0)
    delay = policy.delay(failures) if retry_delay is None else max(0.0, retry_delay)
    return FailureDecision(TaskStatus.RETRYING, failures, delay)
