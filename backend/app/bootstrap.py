"""Create the table, bucket and ECR repository the backend needs, idempotently.

Used by `make run` (scripts/run_stack.py, against DynamoDB Local and moto) and by the tests; on
real AWS the CloudFormation template in `infra/cloudformation/` owns these resources instead.

    python -m app.bootstrap
"""

import logging
import sys
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import SecretStr

from app.aws import client_config, session_kwargs
from app.config import Settings, get_settings
from app.storage.schema import STREAM_SPECIFICATION, TTL_ATTRIBUTE, create_table_request

log = logging.getLogger(__name__)


@cache
def _clients(
    dynamodb_endpoint: str | None,
    endpoint: str | None,
    region: str,
    credentials: tuple[str, str] | None,
) -> tuple[Any, Any, Any]:
    # Cached: building boto3 clients costs tens of milliseconds, and the tests bootstrap often.
    settings = Settings(
        _env_file=None,
        aws_region=region,
        aws_access_key_id=credentials[0] if credentials else None,
        aws_secret_access_key=SecretStr(credentials[1]) if credentials else None,
    )
    session = boto3.Session(**session_kwargs(settings))
    config = client_config(settings)
    return (
        session.client("dynamodb", endpoint_url=dynamodb_endpoint, config=config),
        session.client("s3", endpoint_url=endpoint, config=config),
        session.client("ecr", endpoint_url=endpoint, config=config),
    )


def _clients_for(settings: Settings) -> tuple[Any, Any, Any]:
    secret = settings.aws_secret_access_key
    credentials = (
        (settings.aws_access_key_id, secret.get_secret_value())
        if settings.aws_access_key_id and secret
        else None
    )
    return _clients(
        settings.dynamodb_endpoint, settings.aws_endpoint_url, settings.aws_region, credentials
    )


def ensure_table(settings: Settings) -> bool:
    """Create the table (with its TTL) if it is missing; True if it was created."""
    dynamodb, _, _ = _clients_for(settings)
    created = False
    try:
        dynamodb.create_table(**create_table_request(settings.dynamodb_table))
        dynamodb.get_waiter("table_exists").wait(
            TableName=settings.dynamodb_table, WaiterConfig={"Delay": 1}
        )
        created = True
        log.info("created table %s", settings.dynamodb_table)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    _ensure_stream(dynamodb, settings.dynamodb_table)
    ttl = dynamodb.describe_time_to_live(TableName=settings.dynamodb_table)
    if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
        dynamodb.update_time_to_live(
            TableName=settings.dynamodb_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    return created


def _ensure_stream(dynamodb: Any, table: str) -> None:
    """Turn the table's stream on if a table made before it had none (an additive change)."""
    description = dynamodb.describe_table(TableName=table)["Table"]
    if description.get("StreamSpecification", {}).get("StreamEnabled"):
        return
    dynamodb.update_table(TableName=table, StreamSpecification=STREAM_SPECIFICATION)
    log.info("enabled the change stream of table %s", table)


def ensure_resources(settings: Settings) -> None:
    """Create whatever of table / bucket / ECR repository is missing."""
    _, s3, ecr = _clients_for(settings)
    ensure_table(settings)

    try:
        if settings.aws_region == "us-east-1":
            s3.create_bucket(Bucket=settings.s3_bucket)
        else:
            s3.create_bucket(
                Bucket=settings.s3_bucket,
                CreateBucketConfiguration={"LocationConstraint": settings.aws_region},
            )
        log.info("created bucket %s", settings.s3_bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise

    try:
        ecr.create_repository(
            repositoryName=settings.ecr_repository,
            imageScanningConfiguration={"scanOnPush": True},
        )
        log.info("created ECR repository %s", settings.ecr_repository)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
            raise


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    ensure_resources(settings)
    print(
        f"ready: table {settings.dynamodb_table}, bucket {settings.s3_bucket}, "
        f"ECR repository {settings.ecr_repository}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
