"""The Producer API (FastAPI)."""

from agentmesh.api.app import create_app

__all__ = ["create_app"]
