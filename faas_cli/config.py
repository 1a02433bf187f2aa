"""The configuration file (`$XDG_CONFIG_HOME/faas/config.toml`, mode 0600) and its overrides.

The file holds the backend's URL, one credential (an API key or a token) and the current
workspace. FAAS_URL, FAAS_API_KEY, FAAS_TOKEN and FAAS_WORKSPACE override it for one run.
"""

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import platformdirs
import tomli_w

from faas_cli.errors import usage_error

DEFAULT_URL = "http://127.0.0.1:8000"
FILE_NAME = "config.toml"


@dataclass
class Config:
    """What the file stores."""

    url: str | None = None
    api_key: str | None = None
    token: str | None = None
    workspace_id: str | None = None
    workspace_name: str | None = None


@dataclass(frozen=True)
class Effective:
    """What a command runs with: the file's values, overridden by the environment."""

    url: str
    url_source: str  # "env", "file" or "default"
    credential: str | None
    credential_kind: str | None  # "api_key" or "token"
    credential_source: str | None  # "env" or "file"
    workspace: str | None  # an id (from the file) or a name or id (from FAAS_WORKSPACE)
    workspace_source: str | None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the file lives: $XDG_CONFIG_HOME/faas, else the platform's user config dir."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME")
    folder = Path(base) / "faas" if base else platformdirs.user_config_path("faas", False)
    return folder / FILE_NAME


def load(path: Path | None = None) -> Config:
    """The stored configuration (empty when there is no file yet)."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise usage_error("CONFIG_INVALID", f"Cannot read {path}", str(exc)) from exc
    known = {f.name for f in fields(Config)}
    values = {k: v for k, v in data.items() if k in known and isinstance(v, str)}
    return Config(**values)


def save(config: Config, path: Path | None = None) -> Path:
    """Write the file atomically, readable by its owner only (0600, folder 0700)."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(config).items() if v is not None}
    # mkstemp creates the file with mode 0600, so the secret is never readable by others.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as file:
            tomli_w.dump(data, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def effective(config: Config, env: Mapping[str, str] | None = None) -> Effective:
    """Apply the environment's overrides; a credential from the environment wins as a whole."""
    env = os.environ if env is None else env
    url, url_source = DEFAULT_URL, "default"
    if env.get("FAAS_URL"):
        url, url_source = env["FAAS_URL"], "env"
    elif config.url:
        url, url_source = config.url, "file"
    credential = kind = source = None
    for value, name, origin in (
        (env.get("FAAS_API_KEY"), "api_key", "env"),
        (env.get("FAAS_TOKEN"), "token", "env"),
        (config.api_key, "api_key", "file"),
        (config.token, "token", "file"),
    ):
        if value:
            credential, kind, source = value, name, origin
            break
    workspace, workspace_source = None, None
    if env.get("FAAS_WORKSPACE"):
        workspace, workspace_source = env["FAAS_WORKSPACE"], "env"
    elif config.workspace_id:
        workspace, workspace_source = config.workspace_id, "file"
    return Effective(
        url=url.rstrip("/"),
        url_source=url_source,
        credential=credential,
        credential_kind=kind,
        credential_source=source,
        workspace=workspace,
        workspace_source=workspace_source,
    )


def mask(secret: str | None) -> str | None:
    """A secret as `faas config show` prints it: a recognisable prefix, never the secret."""
    if not secret:
        return None
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:8] else ""
    return f"{prefix}****"
