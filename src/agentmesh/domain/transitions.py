"""The state machine of the spec, in one table.

Stores enforce it in their SQL (each write names the state it comes from); this table
documents it and lets tests check every recorded transition against it.
"""

from __future__ import annotations

from agentmesh.domain.task import TaskStatus as S

ALLOWED: frozenset[tuple[S | None, S]] = frozenset(
    {
        (None, S.PENDING),  # submitted
        (S.PENDING, S.RUNNING),  # claimed by a worker
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.RETRYING),  # failed attempt, retries left
        (S.RUNNING, S.PERMANENT_FAILURE),  # retries exhausted, dead-lettered
        (S.RUNNING, S.PENDING),  # released by a draining worker, not counted as a failure
        (S.RETRYING, S.PENDING),  # backoff elapsed
        (S.PENDING, S.CANCELLED),
        (S.RETRYING, S.CANCELLED),
        (S.RUNNING, S.CANCELLED),
        (S.PERMANENT_FAILURE, S.PENDING),  # requeued from the dead-letter queue
        # workflow steps
        (None, S.WAITING),  # submitted with dependencies
        (S.WAITING, S.PENDING),  # the last dependency completed (same transaction)
        (S.WAITING, S.SKIPPED),  # a dependency failed for good
        (S.WAITING, S.CANCELLED),
        (S.SKIPPED, S.WAITING),  # the failed dependency was requeued: the workflow resumes
        (S.SKIPPED, S.CANCELLED),  # the workflow was cancelled
    }
)

CANCELLABLE = frozenset({S.WAITING, S.PENDING, S.RETRYING, S.RUNNING})
RESUMES = frozenset({(S.PERMANENT_FAILURE, S.PENDING), (S.SKIPPED, S.WAITING), (S.SKIPPED, S.CANCELLED)})
"""The only ways out of a settled state: a requeue, a resumed workflow, a cancelled workflow."""

REFUSED = "refused:"
"""Detail prefix of an audit row that records a refused late outcome: not a transition,
its from and to statuses are both the task's current status."""


def is_allowed(from_status: S | None, to_status: S) -> bool:
    return (from_status, to_status) in ALLOWED


def is_refusal(from_status: S | None, to_status: S, detail: str | None) -> bool:
    return from_status == to_status and (detail or "").startswith(REFUSED)
