"""py-spy against a running process, summarised as text a report can quote.

`sample(pid, seconds)` records collapsed stacks (`py-spy record --format raw`, GIL-holding
samples only, i.e. CPU the process spends in Python), and `summary` turns them into the share of
samples per package (by the innermost frame: self time) and per chosen frame (inclusive time).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, *, rate: int = 200) -> tuple[subprocess.Popen, Path] | None:
    """Start sampling `pid` for `seconds` in the background; None without py-spy."""
    binary = py_spy()
    if binary is None:
        return None
    output = Path(tempfile.mkstemp(prefix="py-spy-", suffix=".txt")[1])
    process = subprocess.Popen(
        [binary, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate),
         "-f", "raw", "--gil", "--nonblocking", "-o", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, output


def finish(handle: tuple[subprocess.Popen, Path] | None) -> dict[str, int]:
    """Wait for the sampler; collapsed stack → sample count."""
    if handle is None:
        return {}
    process, output = handle
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    stacks: dict[str, int] = {}
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] = stacks.get(stack, 0) + int(count)
    keep = os.environ.get("BENCH_PROFILE_KEEP")  # a path: keep the raw stacks for a closer look
    if keep:
        shutil.copyfile(output, keep)
    output.unlink(missing_ok=True)
    return stacks


def _package(frame: str) -> str:
    """The top-level package of a frame's file (py-spy shows `package/module.py`)."""
    match = _FRAME.match(frame)
    path = (match.group("file") if match else frame).replace("\\", "/")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    head = path.split("/", 1)[0].removesuffix(".py")
    return "app (backend)" if head == "app" else head


def summary(stacks: dict[str, int], *, frames: list[str] | None = None, top: int = 8) -> list[str]:
    """Lines: the packages where the CPU samples end (self time), and the heaviest frames
    (inclusive time, leaving out the event loop's own frames that are in every sample)."""
    total = sum(stacks.values())
    if not total:
        return ["(no samples: py-spy missing or not permitted)"]
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        chain = stack.split(";")
        self_time[_package(chain[-1])] += count
        for frame in set(chain):
            match = _FRAME.match(frame)
            name = f"{match.group('func')} ({match.group('file')})" if match else frame
            inclusive[name] += count
    lines = [f"{total} samples holding the GIL; self time by package:"]
    lines += [f"  {share / total:6.1%}  {name}" for name, share in self_time.most_common(top)]
    lines.append("inclusive time of the heaviest frames:")
    wanted = [
        (name, count)
        for name, count in inclusive.most_common()
        if count < 0.9 * total and (not frames or any(name.startswith(f) for f in frames))
    ]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in wanted[: top * 2]]
    return lines
