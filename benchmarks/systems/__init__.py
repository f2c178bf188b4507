"""Benchmarked systems by name, imported lazily so a peer that fails to import only fails its own row."""

from __future__ import annotations

import importlib

from benchmarks.systems.base import System

SYSTEMS: dict[str, str] = {
    "agentmesh": "benchmarks.systems.agentmesh:AgentMeshSystem",
    "baseline": "benchmarks.systems.baseline:BaselineSystem",
    "procrastinate": "benchmarks.systems.procrastinate:ProcrastinateSystem",
    "celery": "benchmarks.systems.celery:CelerySystem",
    "dramatiq": "benchmarks.systems.dramatiq:DramatiqSystem",
    "arq": "benchmarks.systems.arq:ArqSystem",
    "rq": "benchmarks.systems.rq:RqSystem",
    "saq": "benchmarks.systems.saq:SaqSystem",
}


def load(name: str) -> type[System]:
    module, _, attr = SYSTEMS[name].partition(":")
    cls: type[System] = getattr(importlib.import_module(module), attr)
    return cls
