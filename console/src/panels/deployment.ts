// A function's deployment: scale it, list its revisions and roll back (SPEC §9 routes).

import { api, seg } from "../api";
import { problemBox, shortId, showProblem, toProblem } from "../components";
import { announce, field, h, replace, when } from "../dom";
import type { FunctionItem, Page, Task } from "../types";

// GET /api/functions/{id}/revisions items (backend/app/functions/revisions.py RevisionView).
interface Revision {
  revision: number;
  reason?: string;
  source_revision?: number | null;
  replicas?: number | null;
  task_id?: string;
  image_url?: string | null;
  created_at?: string;
  live?: boolean;
  artifacts_removed?: boolean;
}

export interface DeploymentPanel {
  element: HTMLElement;
  reload: () => void;
}

export function deploymentPanel(fn: FunctionItem, signal: AbortSignal, onTask: (task: Task) => void): DeploymentPanel {
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
  return { element: h("div", {}, scale, h("h3", {}, "Revisions"), revisions), reload: () => void load() };
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
      h("thead", {}, h("tr", {}, ["Revision", "Reason", "Replicas", "Image", "Task", "Created", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        items.map((revision) => {
          const number = revision.revision;
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
          const current = revision.live === true;
          const reason = revision.source_revision ? `${revision.reason ?? "deploy"} (from ${revision.source_revision})` : revision.reason ?? "deploy";
          return h(
            "tr",
            {},
            h("td", { "data-label": "Revision" }, String(number), current ? " (live)" : ""),
            h("td", { "data-label": "Reason" }, reason),
            h("td", { "data-label": "Replicas" }, revision.replicas === null || revision.replicas === undefined ? "auto" : String(revision.replicas)),
            h("td", { "data-label": "Image" }, revision.image_url ? h("code", { class: "wrap" }, revision.image_url) : "—"),
            h("td", { "data-label": "Task" }, revision.task_id ? h("a", { href: `#/tasks/${revision.task_id}` }, h("code", {}, shortId(revision.task_id))) : "—"),
            h("td", { "data-label": "Created" }, when(revision.created_at)),
            h("td", { "data-label": "Actions" }, current ? "—" : revision.artifacts_removed ? "artifacts removed" : rollback),
          );
        }),
      ),
    ),
  );
}
