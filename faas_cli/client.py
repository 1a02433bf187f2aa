"""The one HTTP client of the control plane's API: base URL, bearer auth, errors at the edge."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from faas_cli import __version__
from faas_cli.errors import CliError, network_error, problem_error

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
PAGE_SIZE = 100


class ApiClient:
    """Sync wrapper over httpx.Client; every failure comes out as a CliError."""

    def __init__(
        self,
        *,
        base_url: str,
        credential: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": f"faas-cli/{__version__}", "Accept": "application/json"}
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        self.base_url = base_url.rstrip("/")
        # Retries cover connection failures only (nothing was sent), so they are always safe.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=TIMEOUT,
            transport=transport or httpx.HTTPTransport(retries=2),
        )

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return f"{self.base_url}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a non-2xx answer or no answer raises CliError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise network_error(exc, self.url(path)) from exc
        if response.is_error:
            raise problem_error(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and decode its JSON body (None for an empty one)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(
                "BAD_RESPONSE",
                f"{method} {self.url(path)} did not answer JSON",
                response.text[:200],
                status=response.status_code,
            ) from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any) -> Any:
        return self.call("PATCH", path, json=json)

    def delete(self, path: str, **params: Any) -> Any:
        return self.call("DELETE", path, params={k: v for k, v in params.items() if v is not None})

    def items(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated listing (`items` + `next_token`)."""
        token: str | None = None
        while True:
            page = self.get(path, limit=PAGE_SIZE, next_token=token, **params)
            yield from page.get("items", [])
            token = page.get("next_token")
            if not token:
                return

    @contextmanager
    def stream(
        self, method: str, path: str, *, timeout: httpx.Timeout | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """An answer whose body is read as it arrives; error answers are not raised here."""
        try:
            with self._http.stream(method, path, timeout=timeout or TIMEOUT, **kwargs) as response:
                yield response
        except httpx.TransportError as exc:
            raise network_error(exc, self.url(path)) from exc

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request and return any answer (for invoke, where the status is the result)."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise network_error(exc, self.url(path)) from exc
