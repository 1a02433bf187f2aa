"""A missing DynamoDB table (a wiped emulation): said once, plainly; in development re-created.

The pollers hand a failed tick's exception to `absorb_missing_table` instead of logging a
traceback every second while the table is gone. Owns no table logic of its own: creating the
table is `app.bootstrap.ensure_table`.
"""

import asyncio
import logging
import math
import time

from app.aws import error_code
from app.bootstrap import ensure_table
from app.config import Environment, Settings

log = logging.getLogger(__name__)

# While the table stays missing (outside development), a reminder this often, not every tick.
REMINDER_SECONDS = 300.0

# Keyed by (the poller's settings object, what was said): one process may run several apps.
_said_at: dict[tuple[int, str], float] = {}


def is_missing_table(exc: BaseException) -> bool:
    """True if `exc`, or what it was raised from, is DynamoDB's ResourceNotFoundException."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if error_code(current) == "ResourceNotFoundException":
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _say_once(key: tuple[int, str], level: int, message: str, *args: object) -> None:
    now = time.monotonic()
    if now - _said_at.get(key, -math.inf) >= REMINDER_SECONDS:
        _said_at[key] = now
        log.log(level, message, *args)


async def absorb_missing_table(exc: BaseException, settings: Settings) -> bool:
    """Handle `exc` if it says the table is missing (True); other errors are the caller's."""
    if not is_missing_table(exc):
        return False
    table = settings.dynamodb_table
    where = settings.dynamodb_endpoint or "AWS"
    if settings.app_env is not Environment.development:
        _say_once(
            (id(settings), table),
            logging.ERROR,
            "DynamoDB table %s does not exist at %s; the pollers wait for it "
            "(on AWS the CloudFormation stack owns it; locally `python -m app.bootstrap`)",
            table,
            where,
        )
        return True
    log.warning(
        "DynamoDB table %s does not exist at %s (was the local emulation wiped?); re-creating it",
        table,
        where,
    )
    try:
        created = await asyncio.to_thread(ensure_table, settings)
    except Exception as create_error:
        _say_once(
            (id(settings), f"{table}:create"),
            logging.ERROR,
            "could not re-create table %s: %s",
            table,
            create_error,
        )
    else:
        if created:
            log.info("re-created table %s (it is empty: what it held is gone)", table)
    return True
