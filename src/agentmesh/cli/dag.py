"""Draw a workflow in the terminal: steps by stage (longest path from a root), with their states."""

from __future__ import annotations

from typing import Any

from rich.tree import Tree

ICONS = {
    "COMPLETED": "[green]✔[/]", "RUNNING": "[cyan]▶[/]", "PENDING": "[blue]•[/]", "WAITING": "[dim]…[/]",
    "RETRYING": "[yellow]↻[/]", "PERMANENT_FAILURE": "[red]✘[/]", "SKIPPED": "[dim]⤼[/]", "CANCELLED": "[dim]⊘[/]",
}  # fmt: skip


def stages(steps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group steps by depth: a step's stage is one more than its deepest dependency's."""
    by_id = {step["step_id"]: step for step in steps}
    depth: dict[str, int] = {}

    def depth_of(step_id: str) -> int:
        if step_id not in depth:
            deps = by_id[step_id]["depends_on"]
            depth[step_id] = 1 + max((depth_of(d) for d in deps if d in by_id), default=-1)
        return depth[step_id]

    grouped: dict[int, list[dict[str, Any]]] = {}
    for step in steps:
        grouped.setdefault(depth_of(step["step_id"]), []).append(step)
    return [grouped[level] for level in sorted(grouped)]


def render(workflow: dict[str, Any]) -> Tree:
    tree = Tree(f"[bold]{workflow['name']}[/] {workflow['id']} [bold]{workflow['status']}[/]")
    for level, group in enumerate(stages(workflow["steps"])):
        branch = tree.add(f"stage {level}")
        for step in group:
            after = f" [dim]after {', '.join(step['depends_on'])}[/]" if step["depends_on"] else ""
            retries = f" [yellow]retries {step['retry_count']}[/]" if step["retry_count"] else ""
            icon = ICONS.get(step["status"], "?")
            branch.add(f"{icon} {step['step_id']} [dim]{step['agent_type']}[/] {step['status']}{retries}{after}")
    return tree
