"""Channels by task and by workspace, fed by the replica's one change feed and log tails.

The routes subscribe here. A task's channel is opened once per replica however many watch it:
the feed is positioned first, then the task is read once (consistently), so no change falls
between what was read and what the feed delivers; changes that arrive while it opens are kept.
"""

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable

from app.config import Settings
from app.errors import NotFound, ServiceUnavailable
from app.events.channels import Subscriber, TaskChannel, WorkspaceChannel
from app.events.feed import ChangeFeed
from app.events.frames import START, Cursor
from app.events.logtail import LogTail
from app.functions.schemas import Function
from app.storage.changes import ChangeStream, ItemChange
from app.storage.functions import FunctionRepository
from app.storage.keys import TaskKey
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import InfraClient
from app.tasks.models import Task
from app.tasks.service import status_json

log = logging.getLogger(__name__)

_STATES_REMEMBERED = 10_000


class EventHub:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        functions: FunctionRepository,
        stream: ChangeStream,
        infra: InfraClient,
        objects: ObjectStore,
        settings: Settings,
        on_subscribers: Callable[[str, int], None] = lambda kind, count: None,
    ) -> None:
        self._tasks = tasks
        self._functions = functions
        self._infra = infra
        self._objects = objects
        self._settings = settings
        self._on_subscribers = on_subscribers
        self._task_channels: dict[str, TaskChannel] = {}
        self._opening: dict[str, asyncio.Future[TaskChannel]] = {}
        self._early: dict[str, Task] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._rereads: set[asyncio.Task[None]] = set()
        self._workspaces: dict[str, WorkspaceChannel] = {}
        self._shown: OrderedDict[str, str] = OrderedDict()  # entity → last state sent
        self._epoch = secrets.token_hex(4)
        self._count = {"task": 0, "workspace": 0}
        self.feed = ChangeFeed(
            stream=stream,
            poll_seconds=settings.events_poll_seconds,
            idle_seconds=settings.events_idle_seconds,
            deliver=self.on_change,
            wanted=self._wanted,
            resync=self._resync,
            poll=self._poll_watched if settings.events_source == "poll" else None,
        )

    # -- subscribing --------------------------------------------------------------------

    async def subscribe_task(self, task: Task, cursor: Cursor | None) -> Subscriber:
        """A subscriber primed with what `cursor` has not seen of `task`, then following it."""
        self._admit()
        channel = await self._task_channel(task)
        subscriber = Subscriber(limit=self._settings.events_queue_frames, cursor=cursor or START)
        channel.join(subscriber)
        self._counted("task", +1)
        return subscriber

    def leave_task(self, task_id: str, subscriber: Subscriber) -> None:
        self._counted("task", -1)
        channel = self._task_channels.get(task_id)
        if channel is None:
            return
        channel.subscribers.discard(subscriber)
        if not channel.subscribers:
            self._close_task(task_id)

    async def subscribe_workspace(self, workspace_id: str, last_event_id: str | None) -> Subscriber:
        self._admit()
        channel = self._workspaces.get(workspace_id)
        if channel is None:
            channel = WorkspaceChannel(workspace_id=workspace_id, epoch=self._epoch)
            self._workspaces[workspace_id] = channel
        try:
            await self.feed.start()
        except BaseException:
            if not channel.subscribers:
                self._workspaces.pop(workspace_id, None)
            raise
        subscriber = Subscriber(limit=self._settings.events_queue_frames)
        channel.join(subscriber, last_event_id=last_event_id)
        self._counted("workspace", +1)
        return subscriber

    def leave_workspace(self, workspace_id: str, subscriber: Subscriber) -> None:
        self._counted("workspace", -1)
        channel = self._workspaces.get(workspace_id)
        if channel is not None:
            channel.subscribers.discard(subscriber)
            if not channel.subscribers:
                self._workspaces.pop(workspace_id, None)

    def subscribers(self) -> int:
        return self._count["task"] + self._count["workspace"]

    async def close(self) -> None:
        for task_id in list(self._task_channels):
            self._close_task(task_id)
        await self.feed.stop()

    # -- changes ------------------------------------------------------------------------

    def local_write(self, task: Task) -> None:
        """This replica's driver stored a step: show it now (the stream's copy of the same
        version, arriving later, is ignored by the version check)."""
        if task.task_id in self._task_channels or task.workspace_id in self._workspaces:
            self.on_change(ItemChange("task", task.workspace_id, task.task_id, task=task))

    def on_change(self, change: ItemChange) -> None:
        """One write seen by the feed: to the task's channel and the workspace's."""
        if change.kind == "workspace":
            workspace = self._workspaces.pop(change.workspace_id, None)
            if workspace is not None:
                workspace.remove()
            return
        if change.kind == "task" and change.removed:
            channel = self._task_channels.get(change.entity_id)
            if channel is not None:
                channel.remove()
                self._close_task(change.entity_id)
        if change.kind == "task" and change.task is not None:
            task = change.task
            channel = self._task_channels.get(task.task_id)
            if channel is not None:
                channel.update(task)
                self._after(channel)
            elif task.task_id in self._opening:
                early = self._early.get(task.task_id)
                if early is None or task.version > early.version:
                    self._early[task.task_id] = task
        workspace = self._workspaces.get(change.workspace_id)
        if workspace is not None:
            self._to_workspace(workspace, change)

    def _to_workspace(self, channel: WorkspaceChannel, change: ItemChange) -> None:
        key = f"{change.kind}:{change.entity_id}"
        if change.removed:
            self._shown.pop(key, None)
            channel.frame(f"{change.kind}-deleted", {"id": change.entity_id})
            return
        if change.task is not None:
            payload = json.loads(status_json(change.task))
        elif change.function is not None:
            payload = Function.model_validate(change.function.model_dump()).model_dump(mode="json")
        else:
            return
        state = json.dumps({k: v for k, v in payload.items() if k != "updated_at"}, sort_keys=True)
        if self._shown.get(key) == state:
            return  # a step that changed nothing a dashboard shows
        self._shown[key] = state
        self._shown.move_to_end(key)
        if len(self._shown) > _STATES_REMEMBERED:
            self._shown.popitem(last=False)
        channel.frame(change.kind, payload)

    # -- task channels ------------------------------------------------------------------

    async def _task_channel(self, task: Task) -> TaskChannel:
        task_id = task.task_id
        channel = self._task_channels.get(task_id)
        if channel is not None:
            channel.update(task)  # the caller's read may be newer than the feed's news
            self._after(channel)
            return channel
        opening = self._opening.get(task_id)
        if opening is not None:
            return await asyncio.shield(opening)
        opening = asyncio.get_running_loop().create_future()
        self._opening[task_id] = opening
        try:
            await self.feed.start()
            stored = await self._tasks.get_consistent(
                workspace_id=task.workspace_id, task_id=task_id
            )
            if stored is None:  # deleted since the access check read it
                raise NotFound(f"Task {task_id} not found", code="TASK_NOT_FOUND")
            newest = max(
                (t for t in (task, stored, self._early.get(task_id)) if t is not None),
                key=lambda t: t.version,
            )
            channel = TaskChannel(newest)
            if not channel.finished:
                self._task_channels[task_id] = channel
                self._start_tail(channel)
            opening.set_result(channel)
            return channel
        except BaseException as exc:
            opening.set_exception(exc)
            opening.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._opening.pop(task_id, None)
            self._early.pop(task_id, None)

    def _start_tail(self, channel: TaskChannel) -> None:
        if channel.log_done:
            return
        tail = LogTail(
            channel=channel,
            infra=self._infra,
            objects=self._objects,
            poll_seconds=self._settings.events_log_poll_seconds,
        )
        task_id = channel.task.task_id

        async def follow() -> None:
            try:
                await tail.run()
            except Exception:
                log.exception("task %s: the build log tail failed", task_id)
                channel.add_log([], done=True)
            self._after(channel)

        self._tails[task_id] = asyncio.create_task(follow(), name=f"log-tail-{task_id}")

    def _after(self, channel: TaskChannel) -> None:
        """A channel whose task finished (and whose log was read) leaves the hub."""
        if channel.finished and self._task_channels.get(channel.task.task_id) is channel:
            channel.changed.set()
            self._task_channels.pop(channel.task.task_id, None)
            self._tails.pop(channel.task.task_id, None)

    def _close_task(self, task_id: str) -> None:
        self._task_channels.pop(task_id, None)
        tail = self._tails.pop(task_id, None)
        if tail is not None and tail is not asyncio.current_task():
            tail.cancel()

    def _resync(self) -> None:
        """Records may have been missed: read each watched task again (once per channel), and
        tell workspace subscribers to re-read what they show."""
        for workspace in self._workspaces.values():
            workspace.frame("reset", {"workspace_id": workspace.workspace_id})
        for channel in list(self._task_channels.values()):
            reread = asyncio.create_task(self._reread(channel), name="event-resync")
            self._rereads.add(reread)
            reread.add_done_callback(self._rereads.discard)

    async def _reread(self, channel: TaskChannel) -> None:
        task = channel.task
        try:
            stored = await self._tasks.get_consistent(
                workspace_id=task.workspace_id, task_id=task.task_id
            )
        except Exception as exc:
            log.warning("event resync of task %s failed: %s", task.task_id, exc)
            return
        if stored is not None:
            channel.update(stored)
            self._after(channel)

    async def _poll_watched(self) -> list[ItemChange]:
        """The `poll` source: every watched task in one BatchGetItem (per 100), and each watched
        workspace's newest tasks and its functions (deletions are not seen this way)."""
        watched = [
            TaskKey(channel.task.workspace_id, task_id)
            for task_id, channel in self._task_channels.items()
        ]
        changes = [
            ItemChange("task", task.workspace_id, task.task_id, task=task)
            for task in await self._tasks.get_many(task_keys=watched)
        ]
        for workspace_id in list(self._workspaces):
            tasks = await self._tasks.list_in_workspace(
                workspace_id=workspace_id, status=None, limit=25, next_token=None
            )
            functions = await self._functions.list_in_workspace(
                workspace_id=workspace_id, limit=100, next_token=None
            )
            changes += [ItemChange("task", workspace_id, t.task_id, task=t) for t in tasks.items]
            changes += [
                ItemChange("function", workspace_id, f.id, function=f) for f in functions.items
            ]
        return changes

    # -- bookkeeping --------------------------------------------------------------------

    def _wanted(self) -> bool:
        return bool(self._task_channels or self._opening or self._workspaces)

    def _admit(self) -> None:
        if self.subscribers() >= self._settings.events_max_subscribers:
            raise ServiceUnavailable(
                "This replica serves as many event streams as it may; retry shortly",
                code="TOO_MANY_SUBSCRIBERS",
            )

    def _counted(self, kind: str, delta: int) -> None:
        self._count[kind] += delta
        self._on_subscribers(kind, self._count[kind])
