"""moto's S3 and ECR across restarts (testing/moto_durable.py): what comes back, what a bad
snapshot does."""

import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from stack_tests.support import ROOT
from testing.moto import free_port

pytestmark = pytest.mark.stack

BUCKET = "durable-bucket"


@contextmanager
def durable_moto(snapshot: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "testing.moto_durable", "--port", str(port),
             "--snapshot", str(snapshot), "--interval", "0.5"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/_stack/snapshot", timeout=2)
                break
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def clients(url: str) -> tuple[Any, Any]:
    options = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return boto3.client("s3", **options), boto3.client("ecr", **options)


def test_objects_uploads_in_progress_and_repositories_survive_sigterm_and_kill_9(
    tmp_path: Path,
) -> None:
    snapshot, log = tmp_path / "moto" / "snapshot.pickle", tmp_path / "moto.log"
    big = bytes(range(256)) * 40_000  # ~10 MB: kept in a file of its own, written once
    with durable_moto(snapshot, log) as (url, process):
        s3, ecr = clients(url)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="a/big.wasm", Body=big)
        s3.put_object(Bucket=BUCKET, Key="a/overwritten", Body=b"first")
        s3.put_object(Bucket=BUCKET, Key="a/overwritten", Body=b"second")
        s3.put_object(Bucket=BUCKET, Key="deleted", Body=b"gone")
        s3.delete_object(Bucket=BUCKET, Key="deleted")
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="multi")["UploadId"]
        s3.upload_part(
            Bucket=BUCKET, Key="multi", UploadId=upload, PartNumber=1, Body=b"p" * 5_242_880
        )
        ecr.create_repository(repositoryName="faas-functions")
    assert process.returncode == 0  # SIGTERM: the snapshot is written on the way out

    with durable_moto(snapshot, log) as (url, process):
        s3, ecr = clients(url)
        s3.create_bucket(Bucket=BUCKET)  # what the bootstrap does: must not empty the bucket
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert keys == ["a/big.wasm", "a/overwritten"]
        assert s3.get_object(Bucket=BUCKET, Key="a/big.wasm")["Body"].read() == big
        assert s3.get_object(Bucket=BUCKET, Key="a/overwritten")["Body"].read() == b"second"
        s3.upload_part(Bucket=BUCKET, Key="multi", UploadId=upload, PartNumber=2, Body=b"end")
        parts = s3.list_parts(Bucket=BUCKET, Key="multi", UploadId=upload)["Parts"]
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="multi",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
            },
        )
        assert s3.head_object(Bucket=BUCKET, Key="multi")["ContentLength"] == 5_242_883
        assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
            "faas-functions"
        ]
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/_stack/snapshot").json()["dirty"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.kill()  # kill -9 once the snapshot holds every change
        process.wait()

    with durable_moto(snapshot, log) as (url, _):
        s3, _ = clients(url)
        assert s3.get_object(Bucket=BUCKET, Key="multi")["Body"].read().endswith(b"pend")
    # Bodies of deleted or replaced objects and of the completed upload's parts are gone
    # (moto still references a few emptied keys: their files hold nothing).
    bodies = [body.stat().st_size for body in (snapshot.parent / "objects").iterdir()]
    assert sum(bodies) == len(big) + len(b"second") + 5_242_883
    assert "restored S3 and ECR" in log.read_text()


@pytest.mark.parametrize(
    "content",
    [b"not a pickle at all", pickle.dumps({"format": 2, "moto": "0.0.1", "written_at": "then"})],
    ids=["damaged", "another-moto-version"],
)
def test_a_snapshot_that_cannot_be_loaded_means_an_empty_start_said_plainly(
    tmp_path: Path, content: bytes
) -> None:
    snapshot, log = tmp_path / "snapshot.pickle", tmp_path / "moto.log"
    snapshot.write_bytes(content)
    with durable_moto(snapshot, log) as (url, _):
        s3, _ = clients(url)
        assert s3.list_buckets()["Buckets"] == []
    text = log.read_text()
    assert "could not be loaded" in text and "start EMPTY" in text
    assert (tmp_path / "snapshot.pickle.bad").read_bytes() == content
