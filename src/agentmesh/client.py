"""A small HTTP client for the Producer API, used by the CLI and by users' scripts."""

from __future__ import annotations

import time
from typing import Any

import httpx

from agentmesh.errors import AgentMeshError
from agentmesh.flow import WorkflowSpec

TERMINAL = {"COMPLETED", "PERMANENT_FAILURE", "CANCELLED"}


class ClientError(AgentMeshError):
    """The API answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Client:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.base_url = base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the AgentMesh API at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ClientError(f"{response.status_code}: {message}", response.status_code)
        return response.json()

    def submit(self, agent_type: str, payload: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        body = {"agent_type": agent_type, "payload": payload or {}}
        body.update({key: value for key, value in options.items() if value is not None})
        result: dict[str, Any] = self._call("POST", "/tasks", json=body)
        return result

    def submit_batch(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("POST", "/tasks/batch", json={"tasks": tasks})["items"]
        return items

    def get(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/tasks/{task_id}")
        return result

    def events(self, task_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", f"/tasks/{task_id}/events")["items"]
        return items

    def list_tasks(self, **filters: Any) -> dict[str, Any]:
        params = {key: value for key, value in filters.items() if value is not None}
        result: dict[str, Any] = self._call("GET", "/tasks", params=params)
        return result

    def cancel(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/tasks/{task_id}/cancel")
        return result

    def dead_letter(self, **filters: Any) -> dict[str, Any]:
        params = {key: value for key, value in filters.items() if value is not None}
        result: dict[str, Any] = self._call("GET", "/dead-letter", params=params)
        return result

    def requeue(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/dead-letter/{task_id}/requeue")
        return result

    def queues(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/queues")
        return result

    def submit_workflow(self, workflow: WorkflowSpec | dict[str, Any]) -> dict[str, Any]:
        body = workflow.to_json() if isinstance(workflow, WorkflowSpec) else workflow
        result: dict[str, Any] = self._call("POST", "/workflows", json=body)
        return result

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/workflows/{workflow_id}")
        return result

    def list_workflows(self, **filters: Any) -> dict[str, Any]:
        params = {key: value for key, value in filters.items() if value is not None}
        result: dict[str, Any] = self._call("GET", "/workflows", params=params)
        return result

    def cancel_workflow(self, workflow_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/workflows/{workflow_id}/cancel")
        return result

    def wait_workflow(self, workflow_id: str, timeout: float = 300.0, poll: float = 0.25) -> dict[str, Any]:
        """Follow a workflow until it is COMPLETED, FAILED or CANCELLED."""
        deadline = time.monotonic() + timeout
        while True:
            workflow = self.get_workflow(workflow_id)
            if workflow["status"] != "RUNNING":
                return workflow
            if time.monotonic() > deadline:
                raise ClientError(f"workflow {workflow_id} still RUNNING after {timeout:.0f}s")
            time.sleep(poll)

    def wait(self, task_id: str, timeout: float = 300.0, poll: float = 0.2) -> dict[str, Any]:
        """Follow a task until it is terminal; raise ClientError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task["status"] in TERMINAL:
                return task
            if time.monotonic() > deadline:
                raise ClientError(f"task {task_id} still {task['status']} after {timeout:.0f}s")
            time.sleep(poll)
