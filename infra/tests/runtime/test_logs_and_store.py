"""Runtime logs (bounded, exact cursors, kept across reopen) and the runtime's files."""

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra_service.runtime.logs import AppLog, normalise_time
from infra_service.runtime.store import (
    AppKey,
    AppSpec,
    BlobMismatch,
    BlobTooLarge,
    RuntimeStore,
    version_of,
)


def test_pages_follow_each_other_exactly_even_when_lines_share_a_time(tmp_path: Path) -> None:
    log = AppLog(tmp_path, max_bytes=1 << 20)
    for n in range(7):
        log.append(replica="r0", stream="stdout", message=f"line {n}", time="2026-01-01T00:00:00Z")
    seen: list[str] = []
    since = None
    while True:
        page = log.read(since=since, limit=3)
        if not page.entries:
            break
        seen += [entry.message for entry in page.entries]
        since = page.next_since
    assert seen == [f"line {n}" for n in range(7)]
    times = [entry.time for entry in log.read(limit=10).entries]
    assert times == sorted(set(times)) and times[0] == "2026-01-01T00:00:00.000000Z"


def test_tail_answers_the_newest_lines_oldest_first(tmp_path: Path) -> None:
    log = AppLog(tmp_path, max_bytes=1 << 20)
    for n in range(5):
        log.append(replica="r0", stream="stderr", message=str(n), invocation_id=f"i{n}")
    page = log.read(tail=2)
    assert [(e.message, e.invocation_id, e.stream) for e in page.entries] == [
        ("3", "i3", "stderr"),
        ("4", "i4", "stderr"),
    ]


def test_the_log_stays_within_its_budget_dropping_the_oldest_lines(tmp_path: Path) -> None:
    log = AppLog(tmp_path, max_bytes=64 * 1024)
    for n in range(5000):
        log.append(replica="r0", stream="stdout", message=f"{n:05d} " + "x" * 80)
    size = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert size <= 64 * 1024
    kept = log.read(limit=1000, tail=1000).entries
    assert kept[-1].message.startswith("04999")
    assert int(log.read(limit=1).entries[0].message[:5]) > 0


def test_lines_survive_a_reopen_and_times_keep_increasing(tmp_path: Path) -> None:
    first = AppLog(tmp_path, max_bytes=1 << 20)
    first.append(replica="r0", stream="stdout", message="before", time="2030-01-01T00:00:00Z")
    first.close()
    again = AppLog(tmp_path, max_bytes=1 << 20)
    again.append(replica="r0", stream="stdout", message="after")  # "now" is before 2030
    entries = again.read(limit=10).entries
    assert [e.message for e in entries] == ["before", "after"]
    assert entries[1].time > entries[0].time


def test_long_messages_are_cut_and_bad_times_replaced(tmp_path: Path) -> None:
    log = AppLog(tmp_path, max_bytes=1 << 20)
    log.append(replica=None, stream="stdout", message="y" * 100_000, time="not a time")
    (entry,) = log.read().entries
    assert len(entry.message) < 17_000 and entry.message.endswith("[truncated]")


def test_since_accepts_offsets_and_naive_times_as_utc() -> None:
    assert normalise_time("2026-01-01T01:00:00+01:00") == "2026-01-01T00:00:00.000000Z"
    assert normalise_time("2026-01-01T00:00:00") == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(ValueError):
        normalise_time("yesterday")
    # Year 1 keeps four digits (strftime writes "1-01-01…", which no parser reads back), and
    # an offset that takes the instant out of years 1-9999 is a ValueError, not an overflow.
    assert normalise_time("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000000Z"
    assert normalise_time(normalise_time("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00.000000Z"
    for outside in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        with pytest.raises(ValueError):
            normalise_time(outside)


def _spec(key: AppKey, digest: str) -> AppSpec:
    return AppSpec(
        namespace=key.namespace, name=key.name, image="r/x@sha256:" + "0" * 64,
        image_digest="sha256:" + "0" * 64, wasm_digest=digest, wasm_size=1, locked_app={},
        variables={}, replicas=1, generation=1, updated_at="2026-01-01T00:00:00Z",
        version=version_of(wasm_digest=digest, locked_app={}, variables={}),
    )  # fmt: skip


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data[:3]
    yield data[3:]


async def test_a_blob_is_stored_only_when_it_hashes_to_its_digest(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path)
    data = b"component bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(BlobMismatch):
        await store.put_blob(digest, _chunks(b"other bytes"), max_bytes=100)
    with pytest.raises(BlobTooLarge):
        await store.put_blob(digest, _chunks(data), max_bytes=4)
    assert not store.has_blob(digest) and not list(store.tmp.iterdir())
    assert await store.put_blob(digest, _chunks(data), max_bytes=100) == len(data)
    assert store.blob_path(digest).read_bytes() == data
    with pytest.raises(ValueError):
        store.blob_path("sha256:../../etc/passwd")


def test_desired_state_round_trips_and_unreadable_files_are_skipped(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path)
    good, bad = AppKey("faas", "hello"), AppKey("faas", "broken")
    store.save(_spec(good, "sha256:" + "1" * 64))
    store.app_dir(bad).mkdir(parents=True)
    (store.app_dir(bad) / "app.json").write_text(json.dumps({"half": "written"}))
    assert [spec.key for spec in store.load_all()] == [good]
    assert store.forget(good) is True and store.forget(good) is False
    assert not store.app_dir(good).exists()


def test_unused_components_are_collected_but_the_newest_spares_kept(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path)
    digests = [f"sha256:{n:064x}" for n in range(5)]
    for n, digest in enumerate(digests):
        path = store.blob_path(digest)
        path.write_bytes(b"x")
        os.utime(path, (n, n))  # older first
    removed = store.collect_blobs(keep={digests[0]}, spare=2)
    assert removed == 2
    assert [store.has_blob(d) for d in digests] == [True, False, False, True, True]


def test_app_keys_are_dns_labels() -> None:
    for bad in ("", "UPPER", "a/b", "..", "x" * 64):
        with pytest.raises(ValueError):
            AppKey("faas", bad)
