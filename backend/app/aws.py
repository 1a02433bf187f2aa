"""aioboto3 clients, opened once in the lifespan, and AWS errors translated at the boundary."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import aioboto3
import aiobotocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader, create_loader

from app.config import Settings
from app.observability.metrics import count_dynamodb_requests

# Transient AWS failures become these codes; the tests and the API rely on the names only.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
    }
)


@dataclass(frozen=True)
class AwsClients:
    dynamodb: Any
    s3: Any
    dynamodb_streams: Any = None  # the table's change stream (app.storage.changes)


def client_config(settings: Settings) -> Config:
    """Explicit timeouts and bounded retries: a dead endpoint fails fast instead of hanging."""
    return Config(
        region_name=settings.aws_region,
        connect_timeout=2,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=64,
        s3={"addressing_style": "path"},
        # The repositories validate what they send; DynamoDB checks requests again anyway (a
        # ValidationException is logged as a bug). Client-side checks cost every call.
        parameter_validation=False,
    )


def session_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        kwargs["aws_access_key_id"] = settings.aws_access_key_id
        kwargs["aws_secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    return kwargs


@cache
def _service_descriptions() -> Loader:
    # botocore parses its JSON service descriptions anew for every session (a few hundred ms
    # for DynamoDB + S3); they never change, so one loader serves every session of the process.
    return create_loader()


def aws_session(settings: Settings) -> aioboto3.Session:
    """An aioboto3 session for `settings` (credentials, region; shared service descriptions)."""
    botocore_session = aiobotocore.session.get_session()
    botocore_session.register_component("data_loader", _service_descriptions())
    return aioboto3.Session(botocore_session=botocore_session, **session_kwargs(settings))


@asynccontextmanager
async def open_aws_clients(settings: Settings) -> AsyncIterator[AwsClients]:
    """One DynamoDB and one S3 client for the life of the process."""
    session = aws_session(settings)
    config = client_config(settings)
    async with AsyncExitStack() as stack:
        dynamodb = await stack.enter_async_context(
            session.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config)
        )
        s3 = await stack.enter_async_context(
            session.client("s3", endpoint_url=settings.aws_endpoint_url, config=config)
        )
        streams = await stack.enter_async_context(
            session.client(
                "dynamodbstreams", endpoint_url=settings.dynamodb_endpoint, config=config
            )
        )
        count_dynamodb_requests(dynamodb)
        count_dynamodb_requests(streams)
        yield AwsClients(dynamodb=dynamodb, s3=s3, dynamodb_streams=streams)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_condition_failure(exc: BaseException) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def cancellation_reasons(exc: BaseException) -> list[str]:
    """The per-item codes of a cancelled TransactWriteItems ("None" for items that passed)."""
    if not isinstance(exc, ClientError):
        return []
    reasons = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def is_transient(exc: BaseException) -> bool:
    """Network faults, timeouts and throttling: worth retrying later."""
    if isinstance(exc, BotoCoreError):
        return True
    return error_code(exc) in THROTTLING_CODES
