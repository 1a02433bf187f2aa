"""The build service applies contract/sources.py: what the backend accepts builds.

A `.py` that starts with a UTF-8 byte order mark (Python runs it) is built for real; the
service's errors never name its scratch folder.
"""

import io
import zipfile
from typing import Any

import httpx
import pytest

from conftest import BUCKET, EXAMPLES, run_job
from contract.sources import UTF8_BOM

HELLO = (EXAMPLES / "hello" / "app.py").read_bytes()


async def _build(client: httpx.AsyncClient, s3: Any, filename: str, source: bytes) -> dict:
    key = f"build-sources/ws-1/task-1/{filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=source)
    body = {
        "job_key": "task-1:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/{key}",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-1/hello.wasm",
    }
    return await run_job(client, "builds", body, timeout=300)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("filename", "source"),
    [
        ("app.py", UTF8_BOM + HELLO),
        ("src.zip", _zip({"app.py": UTF8_BOM + HELLO, "util.py": UTF8_BOM + b"X = 1\n"})),
    ],
)
async def test_a_source_with_a_utf8_bom_builds(
    client: httpx.AsyncClient, s3: Any, filename: str, source: bytes
) -> None:
    job = await _build(client, s3, filename, source)
    assert job["status"] == "succeeded", job["error"]
    wasm = s3.get_object(Bucket=BUCKET, Key="build-artifacts/task-1/hello.wasm")["Body"].read()
    assert wasm[:4] == b"\0asm"


async def test_refusals_name_the_entry_and_never_the_scratch_folder(
    client: httpx.AsyncClient, s3: Any, settings: Any
) -> None:
    scratch = str(settings.scratch_dir)
    for entries in (
        {"app.py": HELLO, "a" * 256 + ".py": b""},
        {"app.py": HELLO, "lib\\util.py": b""},
        {"app.py": HELLO, "/".join(["d" * 200] * 6) + "/x.py": b""},
    ):
        job = await _build(client, s3, "src.zip", _zip(entries))
        assert job["status"] == "failed"
        assert job["error"]["code"] == "INVALID_SOURCE"
        assert "archive entry" in job["error"]["message"]
        assert scratch not in job["error"]["message"]
        assert "/tmp" not in job["error"]["message"]
