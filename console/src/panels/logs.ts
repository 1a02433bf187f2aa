// A function's logs: build lines, pipeline events and runtime output, filtered by source.

import { api, seg } from "../api";
import { showProblem } from "../components";
import { field, h } from "../dom";
import type { FunctionItem, LogEntry, Page } from "../types";

const SOURCES = ["build", "pipeline", "runtime"];

/** The logs of `fn`; `reload()` reads them again (the function page calls it when a task ends). */
export function logsPanel(fn: FunctionItem, signal: AbortSignal): { element: HTMLElement; reload: () => void } {
  const source = h("select", { name: "source" }, h("option", { value: "" }, "all sources"), SOURCES.map((name) => h("option", { value: name }, name)));
  const tail = h("input", { name: "tail", type: "number", min: "1", max: "1000", value: "200" });
  const followBox = h("input", { type: "checkbox", name: "follow", id: `follow-${fn.id}` });
  const refresh = h("button", { type: "submit" }, "Show logs");
  const problem = h("div");
  const count = h("p", { class: "hint", "aria-live": "polite" });
  const view = h("pre", { class: "log", tabindex: 0, role: "log", "aria-live": "off", "aria-label": `Logs of ${fn.name}` }, "Loading…");
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Which logs" },
    field("Source", source),
    field("Last lines", tail),
    h("div", { class: "choice" }, followBox, h("label", { for: followBox.id }, "Follow (every 2 s)")),
    h("div", { class: "actions" }, refresh),
  );

  const load = async (): Promise<void> => {
    try {
      const page = await api<Page<LogEntry>>(`/api/functions/${seg(fn.id)}/logs`, {
        query: { tail: tail.value, limit: 1000, source: source.value },
        signal,
      });
      showProblem(problem, null);
      // Filtered here too: a backend without the `source` filter answers every source.
      const items = source.value ? page.items.filter((entry) => entry.source === source.value) : page.items;
      const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 8;
      view.textContent = items.length ? items.map(lineOf).join("\n") : "(no log lines)";
      if (atBottom || !followBox.checked) view.scrollTop = view.scrollHeight;
      count.textContent = `${items.length} line${items.length === 1 ? "" : "s"}.`;
    } catch (error) {
      if (!signal.aborted) showProblem(problem, error, "The logs could not be read");
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });
  source.addEventListener("change", () => void load());
  let timer: ReturnType<typeof setInterval> | null = null;
  followBox.addEventListener("change", () => {
    if (timer) clearInterval(timer);
    timer = followBox.checked ? setInterval(() => void load(), 2000) : null;
    if (followBox.checked) void load();
  });
  signal.addEventListener("abort", () => timer && clearInterval(timer));
  void load();
  return { element: h("div", {}, form, problem, count, view), reload: () => void load() };
}

function lineOf(entry: LogEntry): string {
  const time = new Date(entry.time);
  const stamp = Number.isNaN(time.getTime()) ? entry.time : time.toLocaleTimeString();
  const where = [entry.source, entry.stage, entry.replica, entry.stream].filter(Boolean).join("/");
  const invocation = entry.invocation_id ? ` (${entry.invocation_id})` : "";
  return `${stamp} [${where}]${invocation} ${entry.message}`;
}
