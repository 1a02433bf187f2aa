"""How results reach people (rich text) and scripts (JSON on stdout); errors go to stderr."""

import json
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from faas_cli.errors import CliError

# Columns a narrow terminal must not fold (ids and times are copied whole).
_UNBROKEN = frozenset({"ID", "TASK", "NAME", "CREATED", "UPDATED"})


class OutputMode(StrEnum):
    text = "text"
    json = "json"


class Output:
    """One command's output: `data` is the result; `say`/`note` are for people only."""

    def __init__(self, mode: OutputMode = OutputMode.text) -> None:
        self.mode = mode
        # Created per command so that they write to the streams of that moment (CliRunner).
        # Piped output is not wrapped at all, so that each table row stays on one line.
        piped = not sys.stdout.isatty()
        self.stdout = Console(highlight=False, soft_wrap=True, width=4096 if piped else None)
        self.stderr = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def json(self) -> bool:
        return self.mode == OutputMode.json

    @property
    def interactive(self) -> bool:
        """Whether live views (progress bars, spinners) may be drawn on stderr."""
        return not self.json and self.stderr.is_terminal

    def data(self, value: Any) -> None:
        """Print the command's result as JSON (JSON mode only)."""
        if self.json:
            sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def json_line(self, value: Any) -> None:
        """One JSON object on its own line (JSON mode only; for streams of records)."""
        if self.json:
            sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def say(self, text: str | Text, *, style: str | None = None) -> None:
        """A line of the human result on stdout (text mode only)."""
        if not self.json:
            self.stdout.print(text, style=style, markup=False)

    def note(self, text: str | Text, *, style: str | None = "dim") -> None:
        """A side remark on stderr (text mode only): progress, what was chosen for you."""
        if not self.json:
            self.stderr.print(text, style=style, markup=False)

    def raw(self, data: bytes) -> None:
        """Bytes to stdout as they are (a function's answer)."""
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
    ) -> None:
        """A listing as a table (text mode only)."""
        if self.json:
            return
        # No box drawing: the rows stay easy to read and to cut, grep or awk.
        table = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold", no_wrap=column in _UNBROKEN)
        for row in rows:
            table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
        self.stdout.print(table)

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """`name  value` lines (text mode only)."""
        if self.json:
            return
        pairs = list(pairs)
        width = max((len(name) for name, _ in pairs), default=0)
        for name, value in pairs:
            shown = "—" if value in (None, "", [], {}) else value
            line = Text(f"{name:<{width}}  ", style="bold")
            line.append(str(shown))
            self.stdout.print(line)

    def error(self, error: CliError) -> None:
        """The error on stderr: its code first, then title, detail, fields, lines and a hint."""
        if self.json:
            sys.stderr.write(json.dumps({"error": error.as_json()}, ensure_ascii=False) + "\n")
            sys.stderr.flush()
            return
        head = Text("error ", style="bold red")
        head.append(f"[{error.code}] ", style="bold")
        head.append(error.title)
        if error.detail and error.detail.lower() != error.title.lower():
            head.append(f": {error.detail}")
        self.stderr.print(head)
        for item in error.fields:
            where = item.get("field") or item.get("location") or "?"
            self.stderr.print(Text(f"  {where}: {item.get('message', '')}"))
        for line in error.lines:
            self.stderr.print(Text(f"  {line}"))
        if error.hint:
            self.stderr.print(Text(f"hint: {error.hint}", style="yellow"))
