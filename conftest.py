"""Fixtures every test tree shares: the AWS stand-ins of `make run`, one each per session.

DynamoDB is DynamoDB Local (AWS's own emulator, in memory here; started on first use, so a run
of tests that never touch DynamoDB does not start a JVM); S3 and ECR are moto in server mode.
`aws_endpoint` resets both before a test: every table deleted, every bucket forgotten.

The infrastructure services the tests start share one node-local build cache and one compiled
cache for the session (testing/infra_service.py, FAAS_TEST_CACHE_DIR): resetting moto loses the
S3 objects, not the components on disk. Set FAAS_TEST_CACHE_DIR yourself to keep them between
sessions; tests that assert a cache miss or a cold compile opt out.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from testing.dynamodb_local import reset_shared_dynamodb_local, shared_dynamodb_local
from testing.infra_service import SHARED_CACHE_ENV
from testing.moto import FAKE_CREDENTIALS, reset_moto, running_moto

for _name, _value in FAKE_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session", autouse=True)
def shared_infra_caches() -> Iterator[str]:
    """One build cache and one compiled cache for every infrastructure service of the session.

    Removed at the end (components and compiled files are hundreds of MB), unless the caller
    named the folder in FAAS_TEST_CACHE_DIR to keep it.
    """
    if os.environ.get(SHARED_CACHE_ENV):
        yield os.environ[SHARED_CACHE_ENV]
        return
    root = tempfile.mkdtemp(prefix="faas-test-caches-")
    os.environ[SHARED_CACHE_ENV] = root
    try:
        yield root
    finally:
        os.environ.pop(SHARED_CACHE_ENV, None)
        shutil.rmtree(root, ignore_errors=True)


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
