"""Reproducible throughput and latency benchmark of AgentMesh against other Python task queues.

Run from the repository root: `python -m benchmarks.run --help`.
"""
