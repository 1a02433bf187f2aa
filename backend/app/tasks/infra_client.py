"""The one client of the infrastructure services (docs/contract.md): submit a job, read it.

Requests and replies are the contract's own models (contract.jobs); a reply is validated into
the stage's typed job view at this edge, so nothing past here handles raw JSON.
"""

import logging
import time
from typing import Any

import httpx
from pydantic import ValidationError

from app.config import Settings
from app.observability import metrics
from contract.build_log import BuildLogChunk, build_log_path
from contract.jobs import VIEWS, JobRequest, JobView, StageName, collection_path

log = logging.getLogger(__name__)

# A build log is read in pieces of at most this much: what one read adds to each subscriber's
# queue stays well under its bound (events_queue_frames), so only a slow reader falls behind.
LOG_READ_BYTES = 16 * 1024


class InfraUnavailable(Exception):
    """Transient: the service could not be reached, timed out, or answered 5xx/429."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class InfraRejected(Exception):
    """Permanent: the service refused the request (a 4xx other than 404/408/429), or reported
    a finished job whose result does not follow the contract."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"infrastructure service refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail


class InfraClient:
    """Bearer-authenticated calls to build/push/scaffold/deploy over one shared httpx client."""

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base_urls: dict[StageName, str] = {
            "build": settings.build_service_url.rstrip("/"),
            "push": settings.push_service_url.rstrip("/"),
            "scaffold": settings.scaffold_service_url.rstrip("/"),
            "deploy": settings.deploy_service_url.rstrip("/"),
        }
        self._headers = {
            "Authorization": f"Bearer {settings.infra_service_token.get_secret_value()}"
        }

    def _url(self, stage: StageName, job_id: str | None = None) -> str:
        return self._base_urls[stage] + collection_path(stage, job_id)

    async def submit(self, *, stage: StageName, request: JobRequest) -> JobView[Any]:
        """POST a job (idempotent by its `job_key`)."""
        body = request.model_dump(mode="json", exclude_none=True)
        response = await self._send("POST", self._url(stage), stage=stage, call="submit", json=body)
        if response.status_code == 404:
            raise InfraRejected(404, "the service has no such endpoint")
        return _view(stage, response)

    async def status(self, *, stage: StageName, job_id: str) -> JobView[Any] | None:
        """GET a job; None when the service no longer knows it (resubmit by job_key)."""
        response = await self._send("GET", self._url(stage, job_id), stage=stage, call="status")
        if response.status_code == 404:
            return None
        return _view(stage, response)

    async def build_log(
        self, *, job_id: str, offset: int, limit: int = LOG_READ_BYTES
    ) -> BuildLogChunk | None:
        """The build's log from byte `offset` while it runs (and after); None if unknown."""
        url = self._base_urls["build"] + build_log_path(job_id)
        response = await self._send(
            "GET", url, stage="build", call="log", params={"offset": offset, "limit": limit}
        )
        if response.status_code == 404:
            return None
        try:
            return BuildLogChunk.model_validate_json(response.content)
        except ValidationError as exc:
            raise InfraUnavailable(f"unreadable reply from {response.url}") from exc

    async def _send(
        self, method: str, url: str, *, stage: StageName, call: str, **kwargs: Any
    ) -> httpx.Response:
        started = time.perf_counter()
        error: str | None = None
        try:
            response = await self._http.request(method, url, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:  # connection refused, timeouts, protocol errors
            error = "unavailable"
            timed_out = isinstance(exc, httpx.TimeoutException)
            raise InfraUnavailable(
                f"{method} {url}: {type(exc).__name__}", timed_out=timed_out
            ) from exc
        else:
            status = response.status_code
            if status >= 500 or status in (408, 429):
                error = "unavailable"
                raise InfraUnavailable(f"{method} {url}: HTTP {status}")
            if status >= 400 and status != 404:
                error = "rejected"
                raise InfraRejected(status, response.text[:500])
            return response
        finally:
            metrics.observe_infra_call(
                stage=stage, call=call, seconds=time.perf_counter() - started, error=error
            )


def _view(stage: StageName, response: httpx.Response) -> JobView[Any]:
    try:
        return VIEWS[stage].model_validate_json(response.content)
    except ValidationError as exc:
        if all(error["loc"][:1] == ("result",) for error in exc.errors()):
            # The job is readable but its result breaks the contract: a bug of the service,
            # which no retry will fix.
            raise InfraRejected(
                response.status_code, f"the {stage} job's result does not follow the contract"
            ) from exc
        # A reply we cannot read is treated like an outage: it may be a proxy's error page.
        raise InfraUnavailable(f"unreadable reply from {response.url}") from exc
