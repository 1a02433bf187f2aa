"""A small client of the OCI distribution API: blob uploads, downloads and manifests, over httpx.

Authentication: HTTP Basic (ECR's `AWS:<token>`, or a configured user), or anonymous, and the
Bearer-token challenge of registries that use one. Request bodies are bytes of at most one
chunk, so a request can be replayed after an auth challenge without holding a whole blob.
"""

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx

from infra_service.jobs import JobFailure

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_ACCEPT = f"{MANIFEST_MEDIA_TYPE}, application/vnd.docker.distribution.manifest.v2+json"


class RegistryError(JobFailure):
    def __init__(self, message: str, *, code: str = "PUSH_FAILED") -> None:
        super().__init__(code, message)


class RegistryAuth(httpx.Auth):
    """Basic credentials sent up front; a Bearer challenge answered with a token."""

    requires_response_body = True

    def __init__(self, credentials: tuple[str, str] | None) -> None:
        self._credentials = credentials
        self._token: str | None = None

    def current(self) -> dict[str, str]:
        """The Authorization header as the flow last sent it (for streamed downloads)."""
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        return {"Authorization": self._basic()} if self._credentials else {}

    def _basic(self) -> str:
        user, password = self._credentials or ("", "")
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        elif self._credentials:
            request.headers["Authorization"] = self._basic()
        response = yield request
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("bearer "):
            return
        params = _challenge_params(challenge[len("bearer ") :])
        realm = params.pop("realm", "")
        if not realm:
            return
        token_request = httpx.Request("GET", realm, params=params)
        if self._credentials:
            token_request.headers["Authorization"] = self._basic()
        token_response = yield token_request
        if token_response.status_code != 200:
            return
        body = token_response.json()
        self._token = body.get("token") or body.get("access_token")
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def _challenge_params(text: str) -> dict[str, str]:
    """`realm="…",service="…",scope="repository:x:push,pull"` (commas inside quotes kept)."""
    return {
        match[1].lower(): match[2] if match[2] is not None else match[3]
        for match in _CHALLENGE_PARAM.finditer(text)
    }


class RegistryClient:
    """Pushes and pulls blobs and manifests of one registry; failures carry `failure_code`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        auth: RegistryAuth,
        chunk_bytes: int,
        failure_code: str = "PUSH_FAILED",
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._auth = auth
        self._chunk = chunk_bytes
        self._failure_code = failure_code

    async def get_manifest(
        self, repository: str, reference: str, *, max_bytes: int
    ) -> tuple[bytes, str]:
        """The manifest's bytes as stored (digests are over these) and its media type."""
        response = await self._send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_ACCEPT},
            ok=(200,),
        )
        if len(response.content) > max_bytes:
            raise RegistryError(
                f"The manifest of {repository}@{reference} is larger than {max_bytes} bytes.",
                code=self._failure_code,
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return response.content, media_type

    async def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        """A small blob (config, locked app), whole."""
        response = await self._send("GET", f"/v2/{repository}/blobs/{digest}", ok=(200,))
        if len(response.content) > max_bytes:
            raise RegistryError(
                f"Blob {digest} is larger than {max_bytes} bytes.", code=self._failure_code
            )
        return response.content

    async def stream_blob(self, repository: str, digest: str) -> AsyncIterator[bytes]:
        """A large blob in chunks, never whole in memory (registries may redirect to storage)."""
        # Authenticate on a small request first: the auth flow reads whole response bodies.
        await self._send("HEAD", f"/v2/{repository}/blobs/{digest}", ok=(200,))
        url = f"{self._base}/v2/{repository}/blobs/{digest}"
        try:
            async with self._http.stream("GET", url, headers=self._auth.current()) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise RegistryError(_describe("GET", url, response), code=self._failure_code)
                async for chunk in response.aiter_bytes(self._chunk):
                    yield chunk
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"The registry at {self._base} failed during a download ({type(exc).__name__}).",
                code="REGISTRY_UNAVAILABLE",
            ) from exc

    async def blob_exists(self, repository: str, digest: str) -> bool:
        response = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}", ok=(200, 404))
        return response.status_code == 200

    async def push_bytes(self, repository: str, data: bytes) -> str:
        """Upload a small blob monolithically (POST, then PUT with the digest); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if await self.blob_exists(repository, digest):
            return digest
        location = await self._start_upload(repository)
        await self._send(
            "PUT",
            _with_digest(location, digest),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            ok=(201,),
        )
        return digest

    async def push_stream(self, repository: str, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Upload a blob in PATCH chunks while hashing it; returns (digest, size)."""
        location = await self._start_upload(repository)
        digest = hashlib.sha256()
        offset = 0
        pending = bytearray()

        async def send(block: bytes) -> None:
            nonlocal location, offset
            end = offset + len(block) - 1
            response = await self._send(
                "PATCH",
                location,
                content=block,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{end}",
                },
                ok=(202,),
            )
            location = response.headers.get("location", location)
            offset += len(block)

        async for chunk in chunks:
            digest.update(chunk)
            pending += chunk
            while len(pending) >= self._chunk:
                await send(bytes(pending[: self._chunk]))
                del pending[: self._chunk]
        if pending:
            await send(bytes(pending))
        blob_digest = "sha256:" + digest.hexdigest()
        await self._send("PUT", _with_digest(location, blob_digest), ok=(201,))
        return blob_digest, offset

    async def put_manifest(self, repository: str, reference: str, manifest: bytes) -> str:
        """PUT the manifest under a tag; returns its digest (checked against the registry's)."""
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        response = await self._send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=manifest,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            ok=(201,),
        )
        answered = response.headers.get("docker-content-digest")
        if answered and answered != digest:
            raise RegistryError(f"The registry stored the manifest as {answered}, not {digest}.")
        return digest

    async def delete_manifest(self, repository: str, reference: str) -> bool:
        """Delete the manifest a tag or digest names (and so every tag on it); whether it was
        there. Registries delete by digest only, so a tag is resolved first."""
        digest = reference
        if not reference.startswith("sha256:"):
            head = await self._send(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                headers={"Accept": MANIFEST_ACCEPT},
                ok=(200, 404),
            )
            if head.status_code == 404:
                return False
            digest = head.headers.get("docker-content-digest", "")
            if not digest:
                raise RegistryError(
                    f"The registry named no digest for {repository}:{reference}.",
                    code=self._failure_code,
                )
        response = await self._send(
            "DELETE", f"/v2/{repository}/manifests/{digest}", ok=(202, 404, 405)
        )
        if response.status_code == 405:
            raise RegistryError(
                f"The registry at {self._base} does not allow deletes (distribution: "
                "storage.delete.enabled).",
                code="REGISTRY_DELETE_DISABLED",
            )
        return response.status_code == 202

    async def _start_upload(self, repository: str) -> str:
        response = await self._send("POST", f"/v2/{repository}/blobs/uploads/", ok=(202,))
        location: str | None = response.headers.get("location")
        if not location:
            raise RegistryError("The registry started an upload without a Location.")
        return location

    async def _send(
        self, method: str, url: str, *, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        if url.startswith("/"):
            url = self._base + url
        elif not url.startswith(("http://", "https://")):
            url = f"{self._base}/{url}"
        try:
            response = await self._http.request(method, url, auth=self._auth, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"The registry at {self._base} is unreachable ({type(exc).__name__}).",
                code="REGISTRY_UNAVAILABLE",
            ) from exc
        if response.status_code not in ok:
            raise RegistryError(_describe(method, url, response), code=self._failure_code)
        return response


def _with_digest(location: str, digest: str) -> str:
    # The registry's upload state travels in the Location's query; `params=` would replace it.
    if location.startswith(("http://", "https://")):
        return str(httpx.URL(location).copy_merge_params({"digest": digest}))
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}digest={digest.replace(':', '%3A')}"


def _describe(method: str, url: str, response: httpx.Response) -> str:
    """The registry's own error codes (OCI error body), without credentials or bodies."""
    path = httpx.URL(url).path
    reasons = ""
    try:
        errors = response.json().get("errors") or []
        reasons = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)[:500]
    except ValueError:
        pass
    status = response.status_code
    if status == 401:
        reasons = reasons or "the registry refused the credentials"
    return f"{method} {path} answered {status}" + (f" ({reasons})" if reasons else "")
