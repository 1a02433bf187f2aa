"""Request and response models of test invocations and invocation figures."""

import base64
import binascii
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.api.fields import Identifier, RequestModel
from contract.runtime import BodyEncoding, InvocationRequest, TestInvocationResult

HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")]
HeaderValue = Annotated[str, StringConstraints(max_length=8192, pattern=r"^[^\r\n\x00]*$")]
MAX_TEST_BODY_CHARS = 512 * 1024


class TestRequest(RequestModel):
    """`POST /api/functions/{id}/test`: the request to send, and which build (default: latest)."""

    __test__ = False  # not a pytest class, whatever its name

    method: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,16}$")] = "GET"
    path: Annotated[str, StringConstraints(min_length=1, max_length=8192, pattern=r"^/")] = "/"
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=100)
    body: Annotated[str, StringConstraints(max_length=MAX_TEST_BODY_CHARS)] = ""
    body_encoding: BodyEncoding = "utf-8"
    task_id: Identifier | None = Field(
        default=None, description="A completed build of this function (default: the latest)."
    )

    @model_validator(mode="after")
    def _body_decodes(self) -> "TestRequest":
        if self.body_encoding == "base64":
            try:
                base64.b64decode(self.body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("body is not valid base64") from exc
        return self

    def invocation(self) -> InvocationRequest:
        """The request as the deploy service's sandbox takes it."""
        return InvocationRequest(
            method=self.method.upper(),
            path=self.path,
            headers=self.headers,
            body=self.body,
            body_encoding=self.body_encoding,
        )


class TestResponse(TestInvocationResult):
    """What the build answered (200 whatever it did); `error_code` when it failed."""

    __test__ = False
    task_id: str = Field(description="The build that ran.")


class InvocationStats(BaseModel):
    """Invocations of a function through the invoke route, over its lifetime."""

    function_id: str
    count: int
    errors: int = Field(description="Answers ≥ 500, and invocations that failed in the proxy.")
    p50_ms: float | None
    p95_ms: float | None
    last_invoked_at: str | None
    pending: int = Field(description="Invocations on this replica not yet in the figures.")
