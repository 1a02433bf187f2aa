// One task, live: its stage timeline, its build log as it arrives, and why it failed.

import { api, seg } from "./api";
import { badge, problemBox, shortId, toProblem } from "./components";
import { announce, clock, duration, h, nextId, replace } from "./dom";
import { follow } from "./live";
import type { ServerEvent } from "./sse";
import { TERMINAL, type LogEntry, type Page, type Task } from "./types";

export interface TaskWatchOptions {
  signal: AbortSignal;
  /** Called with every new state of the task (the function page refreshes its header). */
  onTask?: (task: Task) => void;
  /** Heading level of the panel's own headings. */
  level?: "h2" | "h3";
}

const END_EVENTS = new Set(["end", "done", "terminal", "close", "completed", "failed", "deleted"]);

/** A panel following `taskId` until it is terminal (or the signal aborts). */
export function watchTask(taskId: string, options: TaskWatchOptions): HTMLElement {
  const level = options.level ?? "h3";
  const summary = h("div", { class: "task-summary" }, h("p", {}, "Loading task…"));
  const timeline = h("ol", { class: "timeline", "aria-label": "Stages" });
  const failure = h("div");
  const liveState = h("p", { class: "hint live-state" });
  const logId = nextId("build-log");
  const buildLog = h("pre", {
    class: "log",
    id: logId,
    tabindex: 0,
    role: "log",
    // The status region announces stages; reading every log line aloud would drown it.
    "aria-live": "off",
    "aria-label": "Build log",
  });
  const events = h("ol", { class: "events", "aria-label": "Pipeline events" });
  const panel = h(
    "div",
    { class: "task-watch", "data-task-id": taskId },
    summary,
    timeline,
    failure,
    liveState,
    h(level, {}, "Build log"),
    buildLog,
    h("details", { class: "events-box" }, h("summary", {}, "Pipeline events"), events),
  );

  let task: Task | null = null;
  let streamed: LogEntry[] = [];
  let fetched: LogEntry[] = [];
  let lastAnnounced = "";

  const render = (): void => {
    if (!task) return;
    const current = task;
    replace(
      summary,
      h("p", { class: "task-line" },
        badge(current.status), " ",
        h("span", {}, `${current.type} of `), h("strong", {}, current.app_name), " · task ",
        h("a", { href: `#/tasks/${current.task_id}` }, h("code", { title: current.task_id }, shortId(current.task_id))),
        current.stage && !TERMINAL.has(current.status) ? ` · now in ${current.stage}` : "",
      ),
    );
    replace(
      timeline,
      current.stages.map((stage) =>
        h(
          "li",
          { class: `stage stage-${stage.status}`, "aria-current": stage.status === "running" ? "step" : null },
          h("span", { class: "marker", "aria-hidden": "true" }),
          h("span", { class: "stage-name" }, stage.name),
          " ",
          h("span", { class: "stage-status" }, stage.status),
          h("span", { class: "stage-time" },
            stage.started_at ? ` started ${clock(stage.started_at)}` : "",
            stage.started_at ? ` · ${duration(stage.started_at, stage.finished_at)}` : ""),
        ),
      ),
    );
    if (current.status === "failed") {
      replace(
        failure,
        h("div", { class: "problem", role: "alert" },
          h("p", { class: "problem-title" }, "The task failed", current.error_code ? h("span", {}, " with ", h("code", {}, current.error_code)) : ""),
          current.error_message ? h("pre", { class: "error-lines", tabindex: 0, "aria-label": "Error message" }, current.error_message) : null,
        ),
      );
    } else {
      replace(failure);
    }
    const said = `${current.status}:${current.stage ?? ""}`;
    if (said !== lastAnnounced) {
      lastAnnounced = said;
      renderLog(); // its placeholder depends on the status
      announce(
        current.status === "completed" ? `Task completed.`
        : current.status === "failed" ? `Task failed${current.error_code ? `: ${current.error_code}` : ""}.`
        : `Stage ${current.stage ?? ""} ${current.status}.`,
      );
    }
  };

  const renderLog = (): void => {
    const entries = [...fetched, ...streamed]; // streamed: lines since the last full read
    const atBottom = buildLog.scrollTop + buildLog.clientHeight >= buildLog.scrollHeight - 8;
    const build = entries.filter((entry) => entry.source === "build").map((entry) => entry.message);
    buildLog.textContent = build.length ? build.join("\n") : TERMINAL.has(task?.status ?? "pending") ? "(no build log)" : "(waiting for the build log…)";
    if (atBottom) buildLog.scrollTop = buildLog.scrollHeight;
    replace(
      events,
      entries
        .filter((entry) => entry.source !== "build")
        .map((entry) => h("li", { class: `level-${entry.level ?? "info"}` }, h("time", { datetime: entry.time }, clock(entry.time)), " ", entry.stage ? `[${entry.stage}] ` : "", entry.message)),
    );
  };

  const apply = (next: Task): void => {
    task = next;
    render();
    options.onTask?.(next);
  };

  const loadTask = async (): Promise<Task | null> => {
    try {
      const next = await api<Task>(`/api/v1/tasks/${seg(taskId)}`, { signal: options.signal });
      apply(next);
      return next;
    } catch (error) {
      if (!options.signal.aborted) replace(summary, problemBox(toProblem(error), "The task could not be read"));
      return null;
    }
  };

  const loadLogs = async (): Promise<void> => {
    try {
      const page = await api<Page<LogEntry>>(`/api/v1/tasks/${seg(taskId)}/logs`, { query: { limit: 1000 }, signal: options.signal });
      fetched = page.items;
      streamed = [];
      renderLog();
    } catch (error) {
      if (!options.signal.aborted) buildLog.textContent = `The log could not be read: ${toProblem(error).title}`;
    }
  };

  const onEvent = (event: ServerEvent): void => {
    let payload: unknown = event.data;
    try {
      payload = JSON.parse(event.data);
    } catch {
      /* plain text: a log line */
    }
    const lines = logLinesOf(event.event, payload);
    if (lines.length) {
      streamed.push(...lines);
      renderLog();
    }
    const state = taskStateOf(payload);
    if (state && task) apply({ ...task, ...state, result: { ...task.result, ...(state.result ?? {}) } });
    if (END_EVENTS.has(event.event) || (task && TERMINAL.has(task.status))) ended = true;
  };

  let ended = false;
  let lastUpdate = "";
  void (async () => {
    const first = await loadTask();
    if (!first) return;
    await loadLogs();
    if (TERMINAL.has(first.status)) {
      liveState.textContent = "";
      return;
    }
    await follow({
      streamPath: `/api/v1/tasks/${seg(taskId)}/events`,
      signal: options.signal,
      onEvent,
      pollEveryMs: 1000,
      shouldReconnect: () => !ended,
      // The backend's task stream starts with the task and replays its whole log (pipeline
      // events, build lines) unless resumed: what was read before is replaced, not doubled.
      onOpen: (resumed) => {
        if (!resumed) {
          fetched = [];
          streamed = [];
        }
      },
      poll: async () => {
        const next = await loadTask();
        if (!next) return "continue";
        if (next.updated_at !== lastUpdate || TERMINAL.has(next.status)) {
          lastUpdate = next.updated_at;
          await loadLogs();
        }
        return TERMINAL.has(next.status) ? "stop" : "continue";
      },
      onMode: (mode, detail) => {
        liveState.textContent =
          mode === "stream" ? "Live: following the task's event stream."
          : mode === "polling" ? `Checking every second (${detail}).`
          : mode === "connecting" ? "Connecting to the task's event stream…"
          : "";
      },
    });
    if (options.signal.aborted) return;
    // The stream or the polls saw the end: read the final state and the whole log once.
    const last = await loadTask();
    if (last) await loadLogs();
  })();
  return panel;
}

/** The task fields an event carries: a whole task, `{task: …}`, or a status/stage change. */
function taskStateOf(payload: unknown): Partial<Task> | null {
  if (!payload || typeof payload !== "object") return null;
  const record = payload as Record<string, unknown>;
  const inner = record.task && typeof record.task === "object" ? (record.task as Record<string, unknown>) : record;
  const known = ["status", "stage", "stages", "error_code", "error_message", "result", "updated_at"];
  if (!known.some((name) => name in inner)) return null;
  const state: Partial<Task> = {};
  for (const name of known) if (name in inner) (state as Record<string, unknown>)[name] = inner[name];
  if (state.stages && !Array.isArray(state.stages)) delete state.stages;
  if (state.status && !["pending", "running", "completed", "failed"].includes(state.status)) delete state.status;
  return state;
}

/** Log lines an event carries: `{message}`, `{line}`, `{lines: […]}`, `{entries|items: […]}`, or text. */
function logLinesOf(eventName: string, payload: unknown): LogEntry[] {
  const now = new Date().toISOString();
  const isLogEvent = eventName.includes("log");
  if (typeof payload === "string") return isLogEvent ? [{ time: now, source: "build", message: payload }] : [];
  if (!payload || typeof payload !== "object") return [];
  const record = payload as Record<string, unknown>;
  const list = record.entries ?? record.items ?? record.lines;
  if (Array.isArray(list)) {
    return list.flatMap((item) =>
      typeof item === "string"
        ? [{ time: now, source: "build", message: item }]
        : item && typeof item === "object" && typeof (item as LogEntry).message === "string"
          ? [{ ...(item as LogEntry), time: (item as LogEntry).time ?? now, source: (item as LogEntry).source ?? "build" }]
          : [],
    );
  }
  const message = typeof record.message === "string" ? record.message : typeof record.line === "string" ? record.line : null;
  if (message === null || (!isLogEvent && !("source" in record))) return [];
  return [{
    time: typeof record.time === "string" ? record.time : now,
    source: typeof record.source === "string" ? record.source : "build",
    stage: typeof record.stage === "string" ? record.stage : null,
    level: typeof record.level === "string" ? record.level : "info",
    message,
  }];
}
