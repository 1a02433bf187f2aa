"""What every invocation of one app shares: its manifest's grants, variables, store, HTTP client."""

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from infra_service.runtime.allowed_hosts import AllowedHost, parse_allowed_hosts
from infra_service.runtime.keyvalue import DEFAULT_STORE, KeyValueStore
from infra_service.runtime.manifest import AppVariable, ComponentManifest
from infra_service.runtime.variables import Variables

if TYPE_CHECKING:
    import httpx


class AppServices:
    """Built once per process from the replica config; used by the host functions."""

    def __init__(
        self,
        *,
        manifest: ComponentManifest,
        values: dict[str, str],
        kv_dir: Path,
        max_outbound_response_bytes: int,
    ) -> None:
        self.manifest = manifest
        config, declared = manifest.config, manifest.variables
        if not config and not declared:
            # No locked app (a test invocation of a bare build): each value under its own name.
            config = {name: "{{ " + name + " }}" for name in values}
            declared = {name: AppVariable(default=None, secret=False) for name in values}
        self.variables = Variables(config=config, declared=declared, values=values)
        self.allowed_hosts: list[AllowedHost] = parse_allowed_hosts(manifest.allowed_outbound_hosts)
        self.max_outbound_response_bytes = max_outbound_response_bytes
        self._kv_path = kv_dir / f"{DEFAULT_STORE}.sqlite3"
        self._kv: KeyValueStore | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def environment(self) -> list[tuple[str, str]]:
        return sorted(self.manifest.environment.items())

    def store_allowed(self, label: str) -> bool:
        return label in self.manifest.key_value_stores

    def store(self) -> KeyValueStore:
        """The `default` store, opened on first use (most apps never touch it)."""
        with self._lock:
            if self._kv is None:
                self._kv = KeyValueStore(self._kv_path)
            return self._kv

    def http(self) -> "httpx.Client":
        # Imported on first use: most functions never call out, and httpx costs start-up time.
        import httpx

        with self._lock:
            if self._http is None:
                # No redirects: each hop would need its own allowed-hosts check.
                self._http = httpx.Client(follow_redirects=False, trust_env=False)
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._kv is not None:
                self._kv.close()
            if self._http is not None:
                self._http.close()
