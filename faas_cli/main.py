"""The `faas` command: every subcommand, assembled."""

import typer

from faas_cli import __version__
from faas_cli.commands import (
    account,
    api_keys,
    deploy,
    functions,
    init,
    invoke,
    lifecycle,
    logs,
    tasks,
    workspaces,
)

app = typer.Typer(
    name="faas",
    help="Deploy Python functions to the FaaS platform and watch them run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faas {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Deploy Python functions to the FaaS platform and watch them run."""


app.command("init")(init.init)
app.command("deploy")(deploy.deploy)
app.command("build")(deploy.build)
app.command("invoke")(invoke.invoke)
app.command("test")(invoke.test)
app.command("logs")(logs.logs)
app.add_typer(functions.app, name="function")
app.add_typer(workspaces.app, name="workspace")
app.command("tasks")(tasks.tasks)
app.add_typer(tasks.app, name="task")
app.command("revisions")(lifecycle.revisions)
app.command("rollback")(lifecycle.rollback)
app.command("scale")(lifecycle.scale)
app.add_typer(api_keys.app, name="api-key")
app.command("login")(account.login)
app.command("logout")(account.logout)
app.add_typer(account.config_app, name="config")


def run() -> None:
    """The console script's entry point."""
    app()
