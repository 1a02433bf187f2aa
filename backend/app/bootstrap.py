"""Create the table, bucket and ECR repository the backend needs, idempotently.

Used by `make run` against the local moto server and by the tests; on real AWS the
CloudFormation template in `infra/cloudformation/` owns these resources instead.

    python -m app.bootstrap
"""

import logging
import sys

import boto3
from botocore.exceptions import ClientError

from app.aws import client_config, session_kwargs
from app.config import Settings, get_settings
from app.storage.schema import TTL_ATTRIBUTE, create_table_request

log = logging.getLogger(__name__)


def ensure_resources(settings: Settings) -> None:
    """Create whatever of table / bucket / ECR repository is missing."""
    session = boto3.Session(**session_kwargs(settings))
    endpoint = settings.aws_endpoint_url
    config = client_config(settings)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
    s3 = session.client("s3", endpoint_url=endpoint, config=config)
    ecr = session.client("ecr", endpoint_url=endpoint, config=config)

    try:
        dynamodb.create_table(**create_table_request(settings.dynamodb_table))
        dynamodb.get_waiter("table_exists").wait(TableName=settings.dynamodb_table)
        log.info("created table %s", settings.dynamodb_table)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    ttl = dynamodb.describe_time_to_live(TableName=settings.dynamodb_table)
    if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
        dynamodb.update_time_to_live(
            TableName=settings.dynamodb_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

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
