"""`faas init NAME`: a starter function that deploys as it is."""

from pathlib import Path
from typing import Annotated

import typer

from faas_cli.commands.common import OutputOption
from faas_cli.errors import usage_error
from faas_cli.output import OutputMode
from faas_cli.session import FUNCTION_NAME, Session
from faas_cli.starter import write_starter


def init(
    name: Annotated[str, typer.Argument(help="The function's name (a DNS label).")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write it (default: ./NAME).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Write into a folder that is not empty.")] = False,
    output: OutputOption = OutputMode.text,
) -> None:
    """Write app.py, requirements.txt and .faasignore for a new function."""
    with Session(output) as session:
        if not FUNCTION_NAME.match(name) or len(name) > 52:
            raise usage_error(
                "INVALID_NAME",
                f"{name!r} cannot name a function",
                "a name is a DNS label: a-z, 0-9 and '-', at most 52 characters",
            )
        folder = directory or Path(name)
        written = write_starter(folder, name, force=force)
        session.out.data({"name": name, "path": str(folder), "files": [str(p) for p in written]})
        session.out.say(f"Wrote {', '.join(p.name for p in written)} in {folder}/")
        session.out.say(f"Deploy it with: faas deploy {folder}")
