"""The one client of the infrastructure services (docs/contract.md): submit a job, read it.

Requests and replies are the contract's own models (contract.jobs); a reply is validated into
the stage's typed job view at this edge, so nothing past here handles raw JSON.
"""

import logging
from typing import Any

import httpx
from pydantic import ValidationError

from app.config import Settings
from contract.jobs import VIEWS, JobRequest, JobView, StageName, collection_path
from contract.runtime import UndeployResult

log = logging.getLogger(__name__)


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
        response = await self._send("POST", self._url(stage), json=body)
        if response.status_code == 404:
            raise InfraRejected(404, "the service has no such endpoint")
        return _view(stage, response)

    async def status(self, *, stage: StageName, job_id: str) -> JobView[Any] | None:
        """GET a job; None when the service no longer knows it (resubmit by job_key)."""
        response = await self._send("GET", self._url(stage, job_id))
        if response.status_code == 404:
            return None
        return _view(stage, response)

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


class RuntimeClient:
    """The deploy service's second-wave calls (docs/contract.md): here, undeploy."""

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._infra = InfraClient(http=http, settings=settings)
        self._base = settings.deploy_service_url.rstrip("/")

    async def undeploy(self, *, namespace: str, name: str) -> bool:
        """Remove the app (idempotent); whether anything was there."""
        url = f"{self._base}/v1/deployments/{namespace}/{name}"
        response = await self._infra._send("DELETE", url)
        if response.status_code == 404:
            raise InfraRejected(404, "the deploy service has no undeploy call")
        try:
            return UndeployResult.model_validate_json(response.content).deleted
        except ValidationError as exc:
            raise InfraUnavailable(f"unreadable reply from {url}") from exc
