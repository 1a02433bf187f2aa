// Pieces shared by the views: problem boxes, status badges, confirmation, load-more lists.

import { ApiError } from "./api";
import { h, nextId, replace } from "./dom";
import type { Problem } from "./types";

/** The server's problem (title, detail, code, offending fields) as an alert. */
export function problemBox(problem: Problem, context?: string): HTMLElement {
  const fields = (problem.errors ?? []).map((error) =>
    h("li", {}, error.field ? h("code", {}, error.field) : null, error.field ? ": " : "", error.message ?? error.msg ?? ""),
  );
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", { class: "problem-title" }, context ? `${context}: ` : "", problem.title, problem.status ? ` (${problem.status})` : ""),
    problem.detail ? h("p", { class: "problem-detail" }, problem.detail) : null,
    fields.length ? h("ul", {}, fields) : null,
    problem.code ? h("p", { class: "problem-code" }, "code ", h("code", {}, problem.code)) : null,
  );
}

export function toProblem(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  return { title: "Something went wrong in the console", detail: error instanceof Error ? error.message : String(error) };
}

/** Show `error` in `slot` (an element reserved for it), or clear the slot with null. */
export function showProblem(slot: HTMLElement, error: unknown, context?: string): void {
  if (error === null) replace(slot);
  else replace(slot, problemBox(toProblem(error), context));
}

const STATUS_WORDS: Record<string, string> = {
  not_deployed: "not deployed",
  building: "building",
  deploying: "deploying",
  deployed: "deployed",
  failed: "failed",
  pending: "pending",
  running: "running",
  completed: "completed",
};

/** A status as text plus a colour and a shape (never colour alone). */
export function badge(status: string): HTMLElement {
  return h("span", { class: `badge badge-${status}` }, STATUS_WORDS[status] ?? status);
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(question: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = nextId("confirm");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": titleId },
      h("form", { method: "dialog" },
        h("p", { id: titleId }, question),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "secondary", autofocus: true }, "Cancel"),
          h("button", { value: "confirm", class: "danger" }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A short id for tables: the first and last characters of a ULID. */
export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id;
}

/** A section with a heading, for the page's outline (landmarks and headings navigation). */
export function section(title: string, ...children: (Node | null)[]): HTMLElement {
  const headingId = nextId("section");
  return h("section", { class: "card", "aria-labelledby": headingId }, h("h2", { id: headingId }, title), ...children);
}
