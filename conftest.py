"""Fixtures every test tree shares: the AWS stand-ins of `make run`, one each per session.

DynamoDB is DynamoDB Local (AWS's own emulator, in memory here; started on first use, so a run
of tests that never touch DynamoDB does not start a JVM); S3 and ECR are moto in server mode.
`aws_endpoint` resets both before a test: every table deleted, every bucket forgotten.
"""

import os
from collections.abc import Iterator

import pytest

from testing.dynamodb_local import reset_shared_dynamodb_local, shared_dynamodb_local
from testing.moto import FAKE_CREDENTIALS, reset_moto, running_moto

for _name, _value in FAKE_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def dynamodb_local() -> str:
    """The endpoint URL of the session's DynamoDB Local (started once, stopped at exit)."""
    return shared_dynamodb_local()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server (S3, ECR, CloudFormation) shared by the session."""
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture
def aws_endpoint(moto_server: str) -> Iterator[str]:
    """moto's endpoint; moto and DynamoDB Local hold no resources at the start of the test."""
    reset_moto(moto_server)
    reset_shared_dynamodb_local()
    yield moto_server
