"""The one client of the infrastructure services (docs/contract.md): submit a job, read it.

Requests and replies are the contract's own models (contract.jobs); a reply is validated into
the stage's typed job view at this edge, so nothing past here handles raw JSON.
"""

import logging
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from app.config import Settings
from app.errors import BadGateway, Conflict, ServiceUnavailable
from app.observability import metrics
from contract.build_log import BuildLogChunk, build_log_path
from contract.jobs import VIEWS, JobRequest, JobView, StageName, collection_path
from contract.runtime import (
    DeploymentState,
    RuntimeLogPage,
    TestInvocationRequest,
    TestInvocationResult,
    UndeployResult,
)

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


# --- the second wave's calls of the deploy service (docs/contract.md) -------------------------

# Codes of the deploy service that a caller of ours can act on, passed through as they are.
_PASSED_THROUGH = frozenset({"ARTIFACT_NOT_FOUND", "ARTIFACT_CORRUPT"})


class RuntimeClient:
    """Apps and test invocations at the deploy service: what runs, undeploy, logs, one-shot runs.

    Unlike InfraClient (whose callers are the pollers), these calls answer a user's request
    now, so their failures are domain errors: an outage is 503 INFRA_UNAVAILABLE with
    Retry-After, a refusal 502 INFRA_REJECTED (or the service's own code where it names
    something the user can act on).
    """

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = settings.deploy_service_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {settings.infra_service_token.get_secret_value()}"
        }
        # A test invocation may compile the component first: its own, longer bound.
        self._test_timeout = httpx.Timeout(settings.test_invoke_timeout_seconds, connect=2.0)

    async def deployment(self, *, namespace: str, name: str) -> DeploymentState | None:
        """What runs under (namespace, name); None when nothing is deployed there."""
        response = await self._send("GET", f"/v1/deployments/{namespace}/{name}", missing=True)
        return None if response is None else _parse(DeploymentState, response)

    async def undeploy(self, *, namespace: str, name: str) -> bool:
        """Remove the app (idempotent); whether anything was deployed."""
        response = await self._send("DELETE", f"/v1/deployments/{namespace}/{name}")
        assert response is not None
        return _parse(UndeployResult, response).deleted

    async def runtime_logs(
        self,
        *,
        namespace: str,
        name: str,
        since: str | None = None,
        limit: int = 100,
        tail: int | None = None,
    ) -> RuntimeLogPage | None:
        """The app's runtime log lines after `since`, oldest first; None when not deployed."""
        params: dict[str, str | int] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if tail is not None:
            params["tail"] = tail
        response = await self._send(
            "GET", f"/v1/deployments/{namespace}/{name}/logs", params=params, missing=True
        )
        return None if response is None else _parse(RuntimeLogPage, response)

    async def test_invocation(self, *, request: TestInvocationRequest) -> TestInvocationResult:
        """Run a built component once in the deploy service's sandbox."""
        response = await self._send(
            "POST",
            "/v1/test-invocations",
            json=request.model_dump(mode="json"),
            timeout=self._test_timeout,
        )
        assert response is not None
        return _parse(TestInvocationResult, response)

    async def _send(
        self, method: str, path: str, *, missing: bool = False, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await self._http.request(
                method, self._base + path, headers=self._headers, **kwargs
            )
        except httpx.HTTPError as exc:
            log.warning("deploy service unreachable: %s %s: %r", method, path, exc)
            raise _unavailable("The deploy service cannot be reached right now.") from exc
        status = response.status_code
        if status < 400:
            return response
        code = _problem_code(response)
        if status == 404 and missing and code in (None, "DEPLOYMENT_NOT_FOUND"):
            return None
        if status >= 500 or status in (408, 429):
            log.warning("deploy service answered %s to %s %s (%s)", status, method, path, code)
            retry = response.headers.get("Retry-After", "")
            raise _unavailable(
                "The deploy service is unavailable right now.",
                retry_after=int(retry) if retry.isdigit() else 5,
            )
        detail = _problem_detail(response)
        if code in _PASSED_THROUGH:
            raise Conflict(detail, code=code)
        log.error("deploy service refused %s %s (%s %s): %s", method, path, status, code, detail)
        raise BadGateway(
            f"The deploy service refused the request ({status}): {detail}", code="INFRA_REJECTED"
        )


_Model = TypeVar("_Model", bound=BaseModel)


def _parse(model: type[_Model], response: httpx.Response) -> _Model:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        log.error("deploy service answered a %s that breaks the contract: %s", model.__name__, exc)
        raise _unavailable("The deploy service gave an answer that cannot be read.") from exc


def _unavailable(detail: str, *, retry_after: int = 5) -> ServiceUnavailable:
    return ServiceUnavailable(detail, retry_after=retry_after, code="INFRA_UNAVAILABLE")


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:500] if detail else response.text[:300]
