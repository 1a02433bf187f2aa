"""2. Upload: a 50 MiB zip through `POST /api/v1/build` next to a direct S3 multipart upload of
the same bytes, and the backend's memory while it takes a 200 MiB upload.

Time: rounds alternate backend and direct upload; the ratio is taken per round. The direct
upload uses aioboto3 with the backend's own client config and part size (8 MiB parts, one after
the other, as `ObjectStore.put_stream` does). Memory: a fresh backend takes one small upload (so
lazily loaded code is in), then the 200 MiB one while a thread samples its VmRSS every 5 ms
(/proc/<pid>/status); the figure is the peak minus the RSS just before. The zips are stored
(not deflated) random bytes plus an `app.py`, so their size on the wire is their size.

    python bench/upload.py [--quick] [--profile]
"""

import asyncio
import os
import tempfile
import time
import zipfile
from pathlib import Path

import aioboto3
import httpx
from harness import (
    HELLO,
    MIB,
    Backend,
    LocalAws,
    RssSampler,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    median,
    running_aws,
    running_backend,
    settings_for,
)

NAME = "upload"
TITLE = "2. Upload (POST /api/v1/build) and the backend's memory"
TARGET_RATIO = 1.25
TARGET_MEMORY_MIB = 64
PART_SIZE = 8 * MIB  # as app.storage.objects.PART_SIZE


def make_zip(path: Path, size: int) -> Path:
    """A stored zip of about `size` bytes: app.py and random data, written 1 MiB at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", HELLO)
        with archive.open("data.bin", "w", force_zip64=True) as entry:
            remaining = size - 4096
            while remaining > 0:
                chunk = os.urandom(min(MIB, remaining))
                entry.write(chunk)
                remaining -= len(chunk)
    return path


async def upload_through_backend(http: httpx.AsyncClient, workspace_id: str, path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        response = await http.post(
            "/api/v1/build",
            data={"workspace_id": workspace_id, "app_name": "big"},
            files={"file": (path.name, handle, "application/zip")},
        )
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    return elapsed


async def upload_direct(s3: object, bucket: str, key: str, path: Path) -> float:
    """Multipart upload of the file, 8 MiB parts in sequence (what the backend does)."""
    started = time.perf_counter()
    created = await s3.create_multipart_upload(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    parts = []
    with path.open("rb") as handle:
        while chunk := handle.read(PART_SIZE):
            answer = await s3.upload_part(  # type: ignore[attr-defined]
                Bucket=bucket,
                Key=key,
                UploadId=created["UploadId"],
                PartNumber=len(parts) + 1,
                Body=chunk,
            )
            parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
    await s3.complete_multipart_upload(  # type: ignore[attr-defined]
        Bucket=bucket, Key=key, UploadId=created["UploadId"], MultipartUpload={"Parts": parts}
    )
    return time.perf_counter() - started


async def measure(
    aws: LocalAws, backend: Backend, files: dict[str, Path], *, rounds: int, profile: bool
) -> dict[str, object]:
    from app.aws import client_config

    settings = settings_for(aws)
    results: dict[str, object] = {}
    async with httpx.AsyncClient(base_url=backend.url, timeout=300) as http:
        workspace_id = await create_workspace(http)
        # Warm-up: imports, thread pool and connections are in place before the baseline.
        await upload_through_backend(http, workspace_id, files["small"])
        await asyncio.sleep(0.5)
        before = backend.stats.memory_kib()
        with RssSampler(backend.pid) as sampler:
            seconds = await upload_through_backend(http, workspace_id, files["large"])
        after = backend.stats.memory_kib()
        results["memory"] = {
            "baseline_kib": before["VmRSS"],
            "peak_kib": sampler.peak_kib,
            "hwm_before_kib": before["VmHWM"],
            "hwm_after_kib": after["VmHWM"],
            "samples": sampler.samples,
            "seconds": seconds,
        }
        log(f"upload: 200 MiB in {seconds:.1f} s, peak RSS {sampler.peak_kib / 1024:.0f} MiB")

        session = aioboto3.Session(region_name="us-east-1")
        async with session.client("s3", endpoint_url=aws.url, config=client_config(settings)) as s3:
            through, direct, before_s3 = [], [], []
            for number in range(rounds):
                aws.reset_counts()
                started = time.time()
                through.append(await upload_through_backend(http, workspace_id, files["medium"]))
                before_s3.append(aws.first_seen()["s3:POST"] - started)
                direct.append(
                    await upload_direct(
                        s3, settings.s3_bucket, f"bench/direct-{number}.zip", files["medium"]
                    )
                )
                log(
                    f"upload round {number + 1}/{rounds}: backend {through[-1]:.2f} s, "
                    f"direct {direct[-1]:.2f} s"
                )
            results["through"], results["direct"] = through, direct
            results["before_s3"] = before_s3
            results["large_direct"] = await upload_direct(
                s3, settings.s3_bucket, "bench/direct-large.zip", files["large"]
            )
        if profile:
            import profiling

            handle = profiling.start(backend.pid, max(2.0, median(through) + 1))
            await upload_through_backend(http, workspace_id, files["medium"])
            results["profile"] = profiling.summary(
                profiling.finish(handle),
                frames=[
                    "build ",
                    "_upload",
                    "receive_source",
                    "_spool_and_check",
                    "check_zip",
                    "create_upload_task",
                    "ObjectStore.put_stream",
                    "MultiPartParser",
                    "Request._get_form",
                    "Request.form",
                    "_file_chunks",
                    "AioBaseClient._make_api_call",
                ],
            )
    return results


def run(*, quick: bool = False, profile: bool = False) -> Section:
    rounds = 2 if quick else 5
    section = Section(NAME, TITLE)
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as scratch:
        files = {
            "small": make_zip(Path(scratch) / "small.zip", 64 * 1024),
            "medium": make_zip(Path(scratch) / "medium.zip", 50 * MIB),
            "large": make_zip(Path(scratch) / "large.zip", 200 * MIB),
        }
        with running_aws() as aws:
            env = backend_env(
                aws,
                pollers_enabled=False,
                max_upload_bytes=256 * MIB,
                max_archive_uncompressed_bytes=512 * MIB,
            )
            with running_backend(env, name="upload-backend") as backend:
                results = asyncio.run(measure(aws, backend, files, rounds=rounds, profile=profile))
        sizes = {name: path.stat().st_size / MIB for name, path in files.items()}

    through, direct = results["through"], results["direct"]
    ratios = [t / d for t, d in zip(through, direct, strict=True)]  # type: ignore[arg-type]
    ratio = median(ratios)
    section.add(
        f"{sizes['medium']:.0f} MiB zip through the backend (202 answered)",
        f"{median(through):.2f} s ({sizes['medium'] / median(through):.0f} MiB/s)",  # type: ignore[arg-type]
    )
    before_s3 = median(results["before_s3"])  # type: ignore[arg-type]
    section.add(
        "… of which before its first S3 request (receive, parse, spool, check the zip)",
        f"{before_s3:.2f} s; S3 upload and task write after it: "
        f"{median(through) - before_s3:.2f} s",  # type: ignore[arg-type]
    )
    section.add(
        "same bytes, direct S3 multipart upload (aioboto3, 8 MiB parts)",
        f"{median(direct):.2f} s ({sizes['medium'] / median(direct):.0f} MiB/s)",  # type: ignore[arg-type]
    )
    section.add(
        "backend ÷ direct",
        f"{ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        f"≤ {TARGET_RATIO}x",
        ratio <= TARGET_RATIO,
    )
    memory = results["memory"]
    growth = (memory["peak_kib"] - memory["baseline_kib"]) / 1024  # type: ignore[index]
    hwm_growth = (memory["hwm_after_kib"] - memory["hwm_before_kib"]) / 1024  # type: ignore[index]
    section.add(
        f"backend peak RSS growth while taking a {sizes['large']:.0f} MiB upload",
        f"{growth:.1f} MiB (RSS {memory['baseline_kib'] / 1024:.0f} → "  # type: ignore[index]
        f"peak {memory['peak_kib'] / 1024:.0f} MiB; VmHWM +{hwm_growth:.1f} MiB; "  # type: ignore[index]
        f"{memory['seconds']:.1f} s)",  # type: ignore[index]
        f"≤ {TARGET_MEMORY_MIB} MiB",
        growth <= TARGET_MEMORY_MIB,
    )
    section.add(
        f"{sizes['large']:.0f} MiB: through the backend / direct (one run each)",
        f"{memory['seconds']:.1f} s / {results['large_direct']:.1f} s",  # type: ignore[index]
    )
    section.note(
        f"{rounds} rounds, backend and direct uploads alternating; medians. The backend is one "
        "uvicorn process with its pollers off, MAX_UPLOAD_BYTES=256 MiB; moto is the S3."
    )
    section.notes += [f"py-spy (backend): {line.strip()}" for line in results.get("profile", [])]  # type: ignore[attr-defined]
    return section


if __name__ == "__main__":
    cli(run, NAME)
