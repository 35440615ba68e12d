from lethe.cli import run

run()
