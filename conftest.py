"""Fixtures every test tree shares: one moto server per session, reset between tests."""

import os
from collections.abc import Iterator

import pytest

from testing.moto import FAKE_CREDENTIALS, reset_moto, running_moto

for _name, _value in FAKE_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server shared by the session."""
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture
def aws_endpoint(moto_server: str) -> Iterator[str]:
    """A moto endpoint holding no resources at the start of the test."""
    reset_moto(moto_server)
    yield moto_server
