"""The Rankup squad pipeline, defined in code: the strategist plans, writers draft in parallel,
the auditor checks every draft. Run a mesh (`agentmesh dev`), then `python examples/squad_pipeline.py`."""

from agentmesh import Client, WorkflowSpec

flow = WorkflowSpec("rankup-squad")
plan = flow.step("plan", "MAGNUS_STRATEGIST", {"brief": "launch post"})
drafts = [flow.step(f"draft-{i}", "CEDRIC_WRITER", {"section": i}, after=plan) for i in range(3)]
flow.step("audit", "LYRA_AUDITOR", {"checks": ["facts", "tone"]}, after=drafts)

with Client("http://127.0.0.1:8000") as client:
    workflow = client.submit_workflow(flow)
    done = client.wait_workflow(workflow["id"])
    print(done["status"], [(step["step_id"], step["status"]) for step in done["steps"]])
