"""The one client of the infrastructure services (SPEC §4): submit a job, read its status."""

import logging
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

from app.config import Settings

log = logging.getLogger(__name__)

StageName = Literal["build", "push", "scaffold", "deploy"]

_COLLECTIONS: dict[str, str] = {
    "build": "builds",
    "push": "pushes",
    "scaffold": "scaffolds",
    "deploy": "deployments",
}


class JobError(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """A job as the service reports it."""

    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = None
    error: JobError | None = None
    log_path: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class InfraUnavailable(Exception):
    """Transient: the service could not be reached, timed out, or answered 5xx/429."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class InfraRejected(Exception):
    """Permanent: the service refused the request (a 4xx other than 404/408/429)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"infrastructure service refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail


class InfraClient:
    """Bearer-authenticated calls to build/push/scaffold/deploy over one shared httpx client."""

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base_urls = {
            "build": settings.build_service_url,
            "push": settings.push_service_url,
            "scaffold": settings.scaffold_service_url,
            "deploy": settings.deploy_service_url,
        }
        self._headers = {
            "Authorization": f"Bearer {settings.infra_service_token.get_secret_value()}"
        }

    def _url(self, stage: str, job_id: str | None = None) -> str:
        url = f"{self._base_urls[stage].rstrip('/')}/v1/{_COLLECTIONS[stage]}"
        return f"{url}/{job_id}" if job_id else url

    async def submit(self, *, stage: str, payload: dict[str, Any]) -> Job:
        """POST a job (idempotent by its `job_key`)."""
        response = await self._send("POST", self._url(stage), json=payload)
        return self._job(response)

    async def status(self, *, stage: str, job_id: str) -> Job | None:
        """GET a job; None when the service no longer knows it (resubmit by job_key)."""
        response = await self._send("GET", self._url(stage, job_id))
        if response.status_code == 404:
            return None
        return self._job(response)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:  # connection refused, timeouts, protocol errors
            timed_out = isinstance(exc, httpx.TimeoutException)
            raise InfraUnavailable(
                f"{method} {url}: {type(exc).__name__}", timed_out=timed_out
            ) from exc
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise InfraUnavailable(f"{method} {url}: HTTP {status}")
        if status >= 400 and status != 404:
            raise InfraRejected(status, response.text[:500])
        return response

    @staticmethod
    def _job(response: httpx.Response) -> Job:
        if response.status_code == 404:
            raise InfraRejected(404, "the service has no such endpoint")
        try:
            return Job.model_validate_json(response.content)
        except ValidationError as exc:
            # A reply we cannot read is treated like an outage: it may be a proxy's error page.
            raise InfraUnavailable(f"unreadable reply from {response.url}") from exc
