"""Worker-side code: what each system's worker processes import and run.

Kept apart from the drivers in `benchmarks.systems` so a worker imports only its own queue library, and the
drivers never import a module that configures a library from the environment at import time.
"""
