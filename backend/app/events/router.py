"""GET /api/v1/tasks/{task_id}/events and GET /api/workspaces/{workspace_id}/events (SSE).

Access is checked, and a bad `Last-Event-ID` refused, before the stream starts, so those
answers are problem+json like every other route's.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from app.api.deps import ContainerDep, TaskDep, WorkspaceDep
from app.api.problems import PROBLEM_RESPONSES
from app.container import Container
from app.errors import InvalidInput
from app.events.frames import Cursor, parse_cursor
from app.events.hub import EventHub
from app.events.response import EventStreamResponse

router = APIRouter(tags=["events"], responses=PROBLEM_RESPONSES)

LastEventIdHeader = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=200, description="Resume after this event."),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description="The same as the Last-Event-ID header, for clients that cannot send it.",
    ),
]

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A text/event-stream of events (see the README's 'Live events').",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


async def get_hub(container: ContainerDep) -> EventHub:
    return container.events


HubDep = Annotated[EventHub, Depends(get_hub)]


def _cursor(header: str | None, query: str | None) -> Cursor | None:
    value = header or query
    if value is None or value == "":
        return None
    cursor = parse_cursor(value)
    if cursor is None:
        raise InvalidInput(
            "Last-Event-ID is not an id this stream sent", code="INVALID_LAST_EVENT_ID"
        )
    return cursor


@router.get(
    "/api/v1/tasks/{task_id}/events",
    response_class=Response,
    responses=_STREAM,
    summary="Follow a task live",
)
async def task_events(
    task: TaskDep,
    hub: HubDep,
    container: ContainerDep,
    last_event_id: LastEventIdHeader = None,
    last_event_id_query: Annotated[LastEventIdQuery, Query(alias="last_event_id")] = None,
) -> Response:
    """The task as it is now (`task`), then each change of it (`task`), each pipeline event
    and build-log line (`log`), and at the end `end` (the final task); then the stream closes."""
    cursor = _cursor(last_event_id, last_event_id_query)
    subscriber = await hub.subscribe_task(task, cursor)
    return EventStreamResponse(
        subscriber,
        heartbeat_seconds=_heartbeat(container),
        on_close=lambda: hub.leave_task(task.task_id, subscriber),
    )


@router.get(
    "/api/workspaces/{workspace_id}/events",
    response_class=Response,
    responses=_STREAM,
    tags=["workspaces"],
    summary="Follow a workspace's tasks and functions live",
)
async def workspace_events(
    workspace: WorkspaceDep,
    hub: HubDep,
    container: ContainerDep,
    last_event_id: LastEventIdHeader = None,
    last_event_id_query: Annotated[LastEventIdQuery, Query(alias="last_event_id")] = None,
) -> Response:
    """`ready`, then `task` and `function` (the changed document), `task-deleted` and
    `function-deleted`; after a reconnection this replica no longer remembers, `reset`."""
    subscriber = await hub.subscribe_workspace(workspace.id, last_event_id or last_event_id_query)
    return EventStreamResponse(
        subscriber,
        heartbeat_seconds=_heartbeat(container),
        on_close=lambda: hub.leave_workspace(workspace.id, subscriber),
    )


def _heartbeat(container: Container) -> float:
    return container.settings.events_heartbeat_seconds
