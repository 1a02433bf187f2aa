"""What the subscribers of one task or one workspace share, and each subscriber's queue.

A channel turns changes into frames once; each subscriber gets the same frames. A subscriber's
queue is bounded: one that falls `limit` frames behind is cut off (its connection closed) and
reconnects with its last id, instead of the replica buffering for it without bound.
"""

import asyncio
import json
from collections import deque
from datetime import UTC, datetime

from app.events.frames import HEARTBEAT, Cursor, Frame, json_frame, raw_frame
from app.tasks.models import Task
from app.tasks.schemas import LogEntry
from app.tasks.service import status_json


class Subscriber:
    """One connection's frames waiting to be sent."""

    def __init__(self, *, limit: int, cursor: Cursor | None = None) -> None:
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._wake = asyncio.Event()
        self.cursor = cursor  # task streams: what the client has seen
        self.cut = asyncio.Event()  # fell too far behind: the connection is closed
        self.ended = False  # the channel finished: send what waits, then close

    def offer(self, frame: Frame, *, priming: bool = False) -> None:
        """Queue `frame` unless the client has it already; cut the client off when full."""
        if self.cut.is_set() or self.ended:
            return
        event_id = frame.event_id
        if self.cursor is not None:
            if frame.part:
                if frame.value <= getattr(self.cursor, frame.part):
                    return  # seen before the reconnection
                self.cursor = self.cursor._replace(**{frame.part: frame.value})
            event_id = str(self.cursor)
        if not priming and len(self._frames) >= self._limit:
            self._frames.clear()
            self.cut.set()
            self._wake.set()
            return
        self._frames.append(frame.encode(event_id))
        self._wake.set()

    def end(self) -> None:
        self.ended = True
        self._wake.set()

    async def next(self, *, idle_seconds: float) -> bytes | None:
        """The next frame; a heartbeat after `idle_seconds` without one; None when done."""
        while not self._frames:
            if self.ended or self.cut.is_set():
                return None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), idle_seconds)
            except TimeoutError:
                return HEARTBEAT
        return self._frames.popleft()

    @property
    def waiting(self) -> int:
        return len(self._frames)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _state_key(task: Task) -> str:
    """The status document without `updated_at`: a step that changed nothing shows nothing."""
    document = json.loads(status_json(task))
    document.pop("updated_at", None)
    return json.dumps(document, sort_keys=True)


class TaskChannel:
    """One task's subscribers on this replica, the task as last seen, its build log so far."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.subscribers: set[Subscriber] = set()
        self._state = _state_key(task)
        self._task_frame = self._frame_of_task(task)
        self._event_frames = [self._event_frame(task, n) for n in range(len(task.events))]
        self.log_frames: list[Frame] = []
        self.log_offset = 0  # bytes of the build log turned into frames
        self.log_done = not _has_build_log(task)
        self.changed = asyncio.Event()  # the log tail waits on it for a build job to appear

    # -- state --------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.task.is_terminal and self.log_done

    def cursor(self) -> Cursor:
        return Cursor(self._task_frame.value, len(self._event_frames), self.log_offset)

    def end_frame(self) -> Frame:
        return raw_frame("end", status_json(self.task))

    # -- subscribers --------------------------------------------------------------------

    def join(self, subscriber: Subscriber) -> None:
        """Prime `subscriber` with what it has not seen (the task first), then follow."""
        for frame in [self._task_frame, *self._event_frames, *self.log_frames]:
            subscriber.offer(frame, priming=True)
        if self.finished:
            subscriber.offer(self.end_frame(), priming=True)
            subscriber.end()
            return
        self.subscribers.add(subscriber)

    def _broadcast(self, frames: list[Frame]) -> None:
        for subscriber in list(self.subscribers):
            for frame in frames:
                subscriber.offer(frame)
            if subscriber.cut.is_set():
                self.subscribers.discard(subscriber)
        if self.finished:
            end = self.end_frame()
            for subscriber in self.subscribers:
                subscriber.offer(end, priming=True)
                subscriber.end()
            self.subscribers.clear()

    # -- changes ------------------------------------------------------------------------

    def update(self, task: Task) -> None:
        """A newer version of the task was written (older or equal ones are ignored)."""
        if task.version <= self.task.version:
            return
        frames = [
            self._event_frame(task, n) for n in range(len(self._event_frames), len(task.events))
        ]
        self._event_frames.extend(frames)
        state = _state_key(task)
        if state != self._state:
            self._state = state
            self._task_frame = self._frame_of_task(task)
            frames.insert(0, self._task_frame)
        self.task = task
        if not _has_build_log(task):
            self.log_done = True
        self.changed.set()
        self._broadcast(frames)

    def remove(self) -> None:
        """The task's item was deleted: say so and close every subscriber's stream."""
        gone = json_frame("deleted", {"task_id": self.task.task_id})
        for subscriber in self.subscribers:
            subscriber.offer(gone, priming=True)
            subscriber.end()
        self.subscribers.clear()
        self.log_done = True
        self.changed.set()

    def add_log(self, lines: list[tuple[str, int]], *, done: bool) -> None:
        """Build-log lines read from the service, each with the offset just past it."""
        frames = []
        for line, end in lines:
            if end <= self.log_offset:
                continue
            entry = LogEntry(
                time=_now(), source="build", task_id=self.task.task_id, stage="build",
                message=line,
            )  # fmt: skip
            frames.append(raw_frame("log", entry.model_dump_json(), part="log", value=end))
            self.log_offset = end
        self.log_frames.extend(frames)
        self.log_done = self.log_done or done
        self._broadcast(frames)

    # -- frames -------------------------------------------------------------------------

    @staticmethod
    def _frame_of_task(task: Task) -> Frame:
        return raw_frame("task", status_json(task), part="version", value=task.version)

    @staticmethod
    def _event_frame(task: Task, index: int) -> Frame:
        event = task.events[index]
        entry = LogEntry(
            time=event.time, source="pipeline", task_id=task.task_id, stage=event.stage,
            level=event.level, message=event.message,
        )  # fmt: skip
        return raw_frame("log", entry.model_dump_json(), part="events", value=index + 1)


def _has_build_log(task: Task) -> bool:
    """Whether the task has (or may still get) a build log to follow."""
    build = next((stage for stage in task.stages if stage.name == "build"), None)
    if build is None:
        return False
    return not (task.is_terminal and build.job_id is None)  # not: failed before the build


class WorkspaceChannel:
    """One workspace's subscribers on this replica and its recent frames (for resuming)."""

    def __init__(self, *, workspace_id: str, epoch: str, keep: int = 500) -> None:
        self.workspace_id = workspace_id
        self.subscribers: set[Subscriber] = set()
        self._epoch = epoch
        self._sequence = 0
        self._recent: deque[tuple[int, Frame]] = deque(maxlen=keep)

    def frame(self, event: str, payload: object) -> None:
        self._sequence += 1
        frame = json_frame(event, payload)
        frame = Frame(frame.event, frame.data, event_id=f"{self._epoch}-{self._sequence}")
        self._recent.append((self._sequence, frame))
        for subscriber in list(self.subscribers):
            subscriber.offer(frame)
            if subscriber.cut.is_set():
                self.subscribers.discard(subscriber)

    def join(self, subscriber: Subscriber, *, last_event_id: str | None) -> None:
        """Replay what followed `last_event_id` if this replica still has it, else `reset`."""
        epoch, _, number = (last_event_id or "").partition("-")
        if last_event_id:
            oldest = self._recent[0][0] if self._recent else self._sequence + 1
            if epoch == self._epoch and number.isdigit() and int(number) + 1 >= oldest:
                for sequence, frame in self._recent:
                    if sequence > int(number):
                        subscriber.offer(frame, priming=True)
            else:  # another replica's id, or too old: the client re-reads what it shows
                subscriber.offer(self._marker("reset"), priming=True)
        else:
            subscriber.offer(self._marker("ready"), priming=True)
        self.subscribers.add(subscriber)

    def remove(self) -> None:
        """The workspace was deleted: say so and close every subscriber's stream."""
        self.frame("deleted", {"workspace_id": self.workspace_id})
        for subscriber in self.subscribers:
            subscriber.end()
        self.subscribers.clear()

    def _marker(self, event: str) -> Frame:
        data = json.dumps({"workspace_id": self.workspace_id})
        return Frame(event, data, event_id=f"{self._epoch}-{self._sequence}")
