// The first page: the workspaces the caller belongs to, and a form to create one.

import { api } from "../api";
import { problemBox, section, showProblem, toProblem } from "../components";
import { announce, field, h, replace, when } from "../dom";
import type { ViewContext } from "../main";
import type { Page, Workspace } from "../types";

export async function renderWorkspaces({ main, signal, setTitle }: ViewContext): Promise<void> {
  setTitle("Workspaces", [{ label: "Workspaces" }]);
  const list = h("div", { class: "list-slot", "aria-busy": "true" }, h("p", {}, "Loading workspaces…"));
  const more = h("div");
  const name = h("input", { name: "name", required: true, maxLength: 100, autocomplete: "off" });
  const description = h("input", { name: "description", maxLength: 1000, autocomplete: "off" });
  const formProblem = h("div");
  const form = h(
    "form",
    { class: "inline-form", "aria-label": "Create a workspace" },
    field("Name", name),
    field("Description (optional)", description),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create workspace")),
    formProblem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblem(formProblem, null);
    try {
      const workspace = await api<Workspace>("/api/workspaces", {
        json: { name: name.value, description: description.value },
      });
      announce(`Workspace ${workspace.name} created.`);
      location.hash = `#/workspaces/${workspace.id}`;
    } catch (error) {
      showProblem(formProblem, error, "The workspace was not created");
      name.focus();
    }
  });

  replace(
    main,
    h("h1", { tabindex: -1 }, "Workspaces"),
    h("p", { class: "lead" }, "A workspace holds functions, their builds and who may use them. Choose one, or create one."),
    section("Your workspaces", list, more),
    section("Create a workspace", form),
  );

  const items: Workspace[] = [];
  const load = async (token: string | null): Promise<void> => {
    try {
      const page = await api<Page<Workspace>>("/api/workspaces", { query: { limit: 50, next_token: token }, signal });
      items.push(...page.items);
      list.removeAttribute("aria-busy");
      replace(list, items.length ? workspaceTable(items) : h("p", {}, "No workspace yet: create the first one below."));
      replace(more, page.next_token
        ? h("button", { type: "button", class: "secondary", onclick: () => void load(page.next_token ?? null) }, "Show more workspaces")
        : null);
    } catch (error) {
      if (signal.aborted) return;
      list.removeAttribute("aria-busy");
      replace(list, problemBox(toProblem(error), "The workspaces could not be listed"));
    }
  };
  void load(null);
}

function workspaceTable(items: Workspace[]): HTMLElement {
  return h(
    "table",
    { class: "stack" },
    h("caption", { class: "visually-hidden" }, "Workspaces"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, "Owner"), h("th", { scope: "col" }, "Created"))),
    h(
      "tbody",
      {},
      items.map((workspace) =>
        h(
          "tr",
          {},
          h("td", { "data-label": "Name" }, h("a", { href: `#/workspaces/${workspace.id}` }, workspace.name)),
          h("td", { "data-label": "Description" }, workspace.description || "—"),
          h("td", { "data-label": "Owner" }, h("code", {}, workspace.owner)),
          h("td", { "data-label": "Created" }, when(workspace.created_at)),
        ),
      ),
    ),
  );
}
