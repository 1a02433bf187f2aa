"""The pinned build toolchain (SPEC §7) and how its processes run: limited, deadlined, killable.

componentize-py finds spin-sdk's WIT files through the `site-packages` of `VIRTUAL_ENV`. The
service gives it a private one holding a copy of spin_sdk only, so that user code can import
the SDK and its own files but nothing else of the service's environment.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import spin_sdk

WORLD = "spin-http"
BUILD_FORMAT = "1"  # bump when the build's output changes for the same inputs
PYTHON_SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"

# Runs in the child before the real program: resource limits and niceness, then exec.
_LAUNCHER = """\
import os, resource, sys
data, cpu, fsize, nice = (int(v) for v in sys.argv[1:5])
if data:
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.nice(nice)
os.execv(sys.argv[5], sys.argv[5:])
"""
_COMPONENTIZE = (
    "import sys; from componentize_py import script; "
    "sys.argv[0] = 'componentize-py'; sys.exit(script())"
)


@dataclass(frozen=True)
class Toolchain:
    componentize_py: str
    spin_sdk: str
    home: Path  # the private VIRTUAL_ENV

    @property
    def fingerprint(self) -> str:
        """What, besides the source, decides the bytes of a build."""
        return (
            f"componentize-py=={self.componentize_py};spin-sdk=={self.spin_sdk};"
            f"world={WORLD};format={BUILD_FORMAT}"
        )

    def componentize_command(self, *, python_path: list[str], output: str) -> list[str]:
        paths = [arg for path in python_path for arg in ("-p", path)]
        return [
            sys.executable, "-c", _COMPONENTIZE,
            "-w", WORLD, "componentize", *paths, "app", "-o", output,
        ]  # fmt: skip


def prepare_toolchain(root: Path) -> Toolchain:
    """Create (once) the private environment that holds spin_sdk for the compiler."""
    versions = Toolchain(
        componentize_py=metadata.version("componentize-py"),
        spin_sdk=metadata.version("spin-sdk"),
        home=root / "toolchain",
    )
    target = versions.home / PYTHON_SITE / "spin_sdk"
    marker = versions.home / "VERSION"
    if not (target.is_dir() and marker.is_file() and marker.read_text() == versions.fingerprint):
        shutil.rmtree(versions.home, ignore_errors=True)
        shutil.copytree(
            Path(spin_sdk.__file__).parent,
            target,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        marker.write_text(versions.fingerprint)
    return versions


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    memory_bytes: int  # RLIMIT_DATA (wasmtime reserves address space, so not RLIMIT_AS)
    nice: int
    max_file_bytes: int = 1 << 30


@dataclass(frozen=True)
class ProcessResult:
    returncode: int | None  # None: killed at the deadline
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


async def run_limited(
    command: list[str], *, cwd: Path, env: dict[str, str], log_file: Path, limits: Limits
) -> ProcessResult:
    """Run `command` with its output appended to `log_file`; kill its group at the deadline."""
    cpu = int(limits.timeout_seconds * 2) + 5
    launcher = [
        sys.executable, "-c", _LAUNCHER,
        str(limits.memory_bytes), str(cpu), str(limits.max_file_bytes), str(limits.nice),
        *command,
    ]  # fmt: skip
    started = time.monotonic()
    with log_file.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *launcher,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            returncode: int | None = await asyncio.wait_for(
                process.wait(), timeout=limits.timeout_seconds
            )
        except TimeoutError:
            returncode = None
        finally:
            if process.returncode is None:
                _kill_group(process.pid)
                await process.wait()
    return ProcessResult(returncode=returncode, seconds=time.monotonic() - started)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def child_env(*, toolchain: Toolchain, home: Path) -> dict[str, str]:
    """A small, explicit environment: no credentials of the service reach the build."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "VIRTUAL_ENV": str(toolchain.home),
        "RUST_BACKTRACE": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
