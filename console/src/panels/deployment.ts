// A function's deployment: scale it, list its revisions and roll back (SPEC §9 routes).

import { api, seg } from "../api";
import { problemBox, shortId, showProblem, toProblem } from "../components";
import { announce, field, h, replace, when } from "../dom";
import type { FunctionItem, Page, Task } from "../types";

interface Revision {
  revision?: number;
  number?: number;
  n?: number;
  task_id?: string;
  image_url?: string | null;
  created_at?: string;
  active?: boolean;
  current?: boolean;
}

export function deploymentPanel(fn: FunctionItem, signal: AbortSignal, onTask: (task: Task) => void): HTMLElement {
  const replicas = h("input", { name: "replicas", type: "number", min: "0", max: "100", value: String(fn.replicas) });
  const scaleProblem = h("div");
  const scale = h(
    "form",
    { class: "toolbar", "aria-label": "Scale" },
    field("Replicas", replicas, "0 stops the function; it stays deployed."),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Scale")),
    scaleProblem,
  );
  scale.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblem(scaleProblem, null);
    try {
      const answer = await api<Task | FunctionItem>(`/api/functions/${seg(fn.id)}/scale`, { json: { replicas: Number(replicas.value) } });
      announce(`Scaling ${fn.name} to ${replicas.value}.`);
      if (answer && "task_id" in answer) onTask(answer);
    } catch (error) {
      showProblem(scaleProblem, error, "Not scaled");
    }
  });

  const revisions = h("div", { "aria-busy": "true" }, h("p", {}, "Loading revisions…"));
  const load = async (): Promise<void> => {
    try {
      const page = await api<Page<Revision> | Revision[]>(`/api/functions/${seg(fn.id)}/revisions`, { signal });
      const items = Array.isArray(page) ? page : page.items;
      revisions.removeAttribute("aria-busy");
      replace(revisions, items.length ? revisionTable(fn, items, onTask) : h("p", {}, "No revision yet: deploy the function first."));
    } catch (error) {
      if (signal.aborted) return;
      revisions.removeAttribute("aria-busy");
      replace(revisions, problemBox(toProblem(error), "Revisions are not available"));
    }
  };
  void load();
  return h("div", {}, scale, h("h3", {}, "Revisions"), revisions);
}

function revisionTable(fn: FunctionItem, items: Revision[], onTask: (task: Task) => void): HTMLElement {
  const problem = h("div");
  return h(
    "div",
    {},
    problem,
    h(
      "table",
      { class: "stack" },
      h("caption", { class: "visually-hidden" }, "Revisions, as the backend lists them"),
      h("thead", {}, h("tr", {}, ["Revision", "Image", "Task", "Created", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        items.map((revision) => {
          const number = revision.revision ?? revision.number ?? revision.n;
          const rollback = h("button", { type: "button", class: "secondary small" }, `Roll back to ${number}`);
          rollback.addEventListener("click", async () => {
            showProblem(problem, null);
            try {
              const task = await api<Task>(`/api/functions/${seg(fn.id)}/rollback`, { json: { revision: number } });
              announce(`Rolling back to revision ${number}.`);
              onTask(task);
            } catch (error) {
              showProblem(problem, error, "Not rolled back");
            }
          });
          const current = revision.active || revision.current;
          return h(
            "tr",
            {},
            h("td", { "data-label": "Revision" }, String(number ?? "?"), current ? " (current)" : ""),
            h("td", { "data-label": "Image" }, revision.image_url ? h("code", { class: "wrap" }, revision.image_url) : "—"),
            h("td", { "data-label": "Task" }, revision.task_id ? h("a", { href: `#/tasks/${revision.task_id}` }, h("code", {}, shortId(revision.task_id))) : "—"),
            h("td", { "data-label": "Created" }, when(revision.created_at)),
            h("td", { "data-label": "Actions" }, current ? "—" : rollback),
          );
        }),
      ),
    ),
  );
}
