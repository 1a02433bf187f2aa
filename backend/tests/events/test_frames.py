"""The pure parts of the streams: cursors, log-line splitting, UTF-8 chunk boundaries."""

import pytest

from app.events.frames import Cursor, parse_cursor
from app.events.logtail import split_lines
from app.tasks.infra_client import LOG_READ_BYTES
from contract.build_log import utf8_chunk


@pytest.mark.parametrize(
    ("value", "cursor"),
    [("3.2.100", Cursor(3, 2, 100)), ("0.0.0", Cursor(0, 0, 0)), ("", None), (None, None),
     ("3.2", None), ("a.b.c", None), ("-1.0.0", None), ("1.2.3.4", None),
     ("9" * 13 + ".0.0", None)],
)  # fmt: skip
def test_only_ids_the_stream_sends_are_cursors(value: str | None, cursor: Cursor | None) -> None:
    assert parse_cursor(value) == cursor
    if cursor is not None:
        assert str(cursor) == value


def test_complete_lines_come_out_with_the_offset_past_each() -> None:
    data = b"one\ntwo\r\nthr"
    assert split_lines(data, start=10, final=False) == [("one", 14), ("two", 19)]
    assert split_lines(data, start=10, final=True) == [("one", 14), ("two", 19), ("thr", 22)]
    assert split_lines(b"", start=5, final=True) == []


def test_a_line_longer_than_a_read_comes_out_in_pieces_instead_of_never() -> None:
    data = b"x" * LOG_READ_BYTES
    assert split_lines(data, start=0, final=False) == [("x" * LOG_READ_BYTES, LOG_READ_BYTES)]


@pytest.mark.parametrize("text", ["abc", "café", "日本語", "emoji 🎉 end", "é"])
def test_a_chunk_never_ends_inside_a_character(text: str) -> None:
    data = text.encode()
    for cut in range(len(data) + 1):
        head = utf8_chunk(data[:cut])
        head.decode("utf-8")  # whole characters only
        assert data.startswith(head) and cut - len(head) <= 3
