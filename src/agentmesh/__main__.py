from agentmesh.cli.main import run

if __name__ == "__main__":  # not when a spawned API process imports the parent's main module
    run()
