"""A table that disappears under a running backend (a wiped emulation): said once, plainly."""

import asyncio
import logging
import time

import pytest
from asgi_lifespan import LifespanManager

from app.config import Environment, Settings
from app.main import create_app
from testing.dynamodb_local import client
from tests.conftest import with_overrides


def _polling(settings: Settings, env: Environment) -> Settings:
    return with_overrides(settings, app_env=env, pollers_enabled=True, poller_tick_seconds=0.1)


def _table_exists(settings: Settings) -> bool:
    assert settings.dynamodb_endpoint is not None
    names = client(settings.dynamodb_endpoint).list_tables()["TableNames"]
    return settings.dynamodb_table in names


async def _ticks(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_in_development_a_deleted_table_is_said_once_and_recreated(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _polling(settings, Environment.development)
    caplog.set_level(logging.INFO)
    async with LifespanManager(create_app(settings)):
        assert settings.dynamodb_endpoint is not None
        client(settings.dynamodb_endpoint).delete_table(TableName=settings.dynamodb_table)
        deadline = time.monotonic() + 20
        while not _table_exists(settings):
            assert time.monotonic() < deadline, "the table was not re-created"
            await asyncio.sleep(0.1)
        await _ticks(1.0)  # ticks after the re-creation: none of them complains
    said = [r for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.WARNING
    assert settings.dynamodb_table in said[0].getMessage()
    assert any("re-created table" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info]


async def test_outside_development_a_missing_table_is_said_once_not_every_tick(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _polling(settings, Environment.test)
    caplog.set_level(logging.INFO)
    async with LifespanManager(create_app(settings)):
        assert settings.dynamodb_endpoint is not None
        client(settings.dynamodb_endpoint).delete_table(TableName=settings.dynamodb_table)
        await _ticks(1.5)  # ~15 ticks of the poller, each one failing
    said = [r for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.ERROR
    assert "app.bootstrap" in said[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback per tick
    assert not _table_exists(settings)  # only development re-creates it
