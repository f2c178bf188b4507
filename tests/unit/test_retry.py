"""The retry policy is pure: decisions in, decisions out."""

from __future__ import annotations

import random

import pytest

from agentmesh.domain.retry import RetryPolicy, decide_failure
from agentmesh.domain.task import TaskStatus


def test_default_backoff_is_2_4_8_16_32_without_jitter() -> None:
    policy = RetryPolicy(base=2, cap=600, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]


def test_jitter_only_lengthens_and_the_cap_holds() -> None:
    policy = RetryPolicy(base=2, cap=20, jitter=0.5)
    rng = random.Random(1)
    delays = [policy.delay(3, rng) for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays) and len(set(delays)) > 100
    assert all(policy.delay(10, rng) == 20 for _ in range(20))


@pytest.mark.parametrize(("retry_count", "max_retries", "status", "failures"), [
    (0, 5, TaskStatus.RETRYING, 1),
    (4, 5, TaskStatus.RETRYING, 5),
    (5, 5, TaskStatus.PERMANENT_FAILURE, 6),
    (0, 0, TaskStatus.PERMANENT_FAILURE, 1),
])  # fmt: skip
def test_failure_count_against_max_retries(
    retry_count: int, max_retries: int, status: TaskStatus, failures: int
) -> None:
    decision = decide_failure(retry_count, max_retries, RetryPolicy(jitter=0))
    assert (decision.status, decision.retry_count) == (status, failures)
    if status is TaskStatus.RETRYING:
        assert decision.delay == 2**failures


def test_agent_overrides() -> None:
    policy = RetryPolicy(jitter=0)
    assert decide_failure(0, 5, policy, retry_delay=0.5).delay == 0.5
    assert decide_failure(0, 5, policy, give_up=True).status is TaskStatus.PERMANENT_FAILURE
