"""`python -m faas_cli`: the same as the `faas` console script."""

from faas_cli.main import run

run()
