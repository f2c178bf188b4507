from agentmesh.cli.main import run

run()
