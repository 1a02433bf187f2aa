// A workspace: its functions (with deployment status and endpoint) and its task history.

import { api, seg } from "../api";
import { badge, confirmAction, problemBox, section, shortId, showProblem, toProblem } from "../components";
import { announce, field, h, replace, when } from "../dom";
import { follow, throttle } from "../live";
import type { ViewContext } from "../main";
import type { FunctionItem, Page, Task, Workspace } from "../types";

export async function renderWorkspace({ main, signal, setTitle }: ViewContext, workspaceId: string): Promise<void> {
  setTitle("Workspace", [{ label: "Workspaces", href: "#/" }, { label: "Workspace" }]);
  let workspace: Workspace;
  try {
    workspace = await api<Workspace>(`/api/workspaces/${seg(workspaceId)}`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    replace(main, h("h1", { tabindex: -1 }, "Workspace"), problemBox(toProblem(error), "The workspace could not be read"));
    return;
  }
  localStorage.setItem("faas-console.workspace", workspace.id);
  setTitle(workspace.name, [{ label: "Workspaces", href: "#/" }, { label: workspace.name }]);

  const functionsSlot = h("div", { "aria-busy": "true" }, h("p", {}, "Loading functions…"));
  const tasksSlot = h("div", { "aria-busy": "true" }, h("p", {}, "Loading tasks…"));
  const tasksMore = h("div");
  const liveState = h("p", { class: "hint live-state" });

  const refreshFunctions = async (): Promise<void> => {
    try {
      const page = await api<Page<FunctionItem>>(`/api/workspaces/${seg(workspace.id)}/functions`, {
        query: { limit: 100 },
        signal,
      });
      functionsSlot.removeAttribute("aria-busy");
      replace(functionsSlot, page.items.length ? functionTable(page.items, refreshFunctions) : h("p", {}, "No function yet: create one below."));
    } catch (error) {
      if (!signal.aborted) replace(functionsSlot, problemBox(toProblem(error), "The functions could not be listed"));
    }
  };

  const statusFilter = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "all"),
    ["pending", "running", "completed", "failed"].map((status) => h("option", { value: status }, status)),
  );
  let tasks: Task[] = [];
  let expanded = false; // older pages shown: automatic refreshes would fold them away
  const refreshTasks = async (append: string | null = null): Promise<void> => {
    try {
      const page = await api<Page<Task>>(`/api/workspaces/${seg(workspace.id)}/tasks`, {
        query: { limit: 20, status: statusFilter.value, next_token: append },
        signal,
      });
      tasks = append ? [...tasks, ...page.items] : page.items;
      expanded = append !== null;
      tasksSlot.removeAttribute("aria-busy");
      replace(tasksSlot, tasks.length ? taskTable(tasks) : h("p", {}, "No task matches."));
      replace(tasksMore, page.next_token
        ? h("button", { type: "button", class: "secondary", onclick: () => void refreshTasks(page.next_token ?? null) }, "Show older tasks")
        : null);
    } catch (error) {
      if (!signal.aborted) replace(tasksSlot, problemBox(toProblem(error), "The task history could not be read"));
    }
  };
  statusFilter.addEventListener("change", () => void refreshTasks());

  replace(
    main,
    h("h1", { tabindex: -1 }, workspace.name),
    workspace.description ? h("p", { class: "lead" }, workspace.description) : null,
    h("p", { class: "meta" }, "id ", h("code", {}, workspace.id), " · owner ", h("code", {}, workspace.owner)),
    liveState,
    section("Functions", functionsSlot),
    section("Create a function", createFunctionForm(workspace)),
    section(
      "Task history",
      h("div", { class: "toolbar" }, field("Show tasks that are", statusFilter)),
      tasksSlot,
      tasksMore,
    ),
  );
  void refreshFunctions();
  void refreshTasks();

  // A change anywhere in the workspace refreshes both lists (at most twice a second).
  const refresh = throttle(async () => {
    await Promise.all([refreshFunctions(), expanded ? Promise.resolve() : refreshTasks()]);
  }, 500);
  void follow({
    streamPath: `/api/workspaces/${seg(workspace.id)}/events`,
    signal,
    onEvent: refresh,
    poll: async () => {
      if (document.visibilityState === "visible") {
        await Promise.all([refreshFunctions(), expanded ? Promise.resolve() : refreshTasks()]);
      }
      return "continue";
    },
    pollEveryMs: 5000,
    shouldReconnect: () => true,
    onMode: (mode, detail) => {
      liveState.textContent =
        mode === "stream" ? "Live: changes appear as they happen."
        : mode === "polling" ? `Refreshing every 5 s (${detail}).`
        : mode === "connecting" ? "Connecting to the workspace's event stream…"
        : "";
    },
  });
}

function createFunctionForm(workspace: Workspace): HTMLElement {
  const name = h("input", {
    name: "name",
    required: true,
    maxLength: 52,
    pattern: "[a-z0-9]([\\-a-z0-9]*[a-z0-9])?",
    autocomplete: "off",
    spellcheck: "false",
  });
  const description = h("input", { name: "description", maxLength: 1000, autocomplete: "off" });
  const replicas = h("input", { name: "replicas", type: "number", min: "1", max: "100", value: "2" });
  const problem = h("div");
  const form = h(
    "form",
    { class: "inline-form", "aria-label": "Create a function" },
    field("Name", name, "Lower-case letters, digits and dashes, at most 52: it names the deployed app."),
    field("Description (optional)", description),
    field("Replicas", replicas),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create function")),
    problem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblem(problem, null);
    try {
      const created = await api<FunctionItem>(`/api/workspaces/${seg(workspace.id)}/functions`, {
        json: { name: name.value, description: description.value, replicas: Number(replicas.value) },
      });
      announce(`Function ${created.name} created.`);
      location.hash = `#/functions/${created.id}`;
    } catch (error) {
      showProblem(problem, error, "The function was not created");
      name.focus();
    }
  });
  return form;
}

function functionTable(items: FunctionItem[], refresh: () => Promise<void>): HTMLElement {
  const problem = h("div");
  const rows = items.map((fn) => {
    const remove = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${fn.name}` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!(await confirmAction(`Delete the function ${fn.name}? Its builds stay in the task history.`, `Delete ${fn.name}`))) {
        remove.focus();
        return;
      }
      try {
        await api(`/api/functions/${seg(fn.id)}`, { method: "DELETE" });
        announce(`Function ${fn.name} deleted.`);
        await refresh();
      } catch (error) {
        showProblem(problem, error, `${fn.name} was not deleted`);
      }
    });
    return h(
      "tr",
      {},
      h("td", { "data-label": "Name" }, h("a", { href: `#/functions/${fn.id}` }, fn.name)),
      h("td", { "data-label": "Deployment" }, badge(fn.deployment_status)),
      h("td", { "data-label": "Endpoint" }, fn.endpoint ? h("a", { href: fn.endpoint, class: "endpoint" }, fn.endpoint) : "—"),
      h("td", { "data-label": "Latest task" }, fn.latest_task_id ? h("a", { href: `#/tasks/${fn.latest_task_id}` }, h("code", {}, shortId(fn.latest_task_id))) : "—"),
      h("td", { "data-label": "Updated" }, when(fn.updated_at)),
      h("td", { "data-label": "Actions" }, remove),
    );
  });
  return h(
    "div",
    {},
    problem,
    h(
      "table",
      { class: "stack" },
      h("caption", { class: "visually-hidden" }, "Functions of this workspace"),
      h("thead", {}, h("tr", {}, ["Name", "Deployment", "Endpoint", "Latest task", "Updated", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rows),
    ),
  );
}

export function taskTable(tasks: Task[]): HTMLElement {
  return h(
    "table",
    { class: "stack" },
    h("caption", { class: "visually-hidden" }, "Tasks, newest first"),
    h("thead", {}, h("tr", {}, ["Task", "Function", "Type", "Status", "Stage", "Created", "Error"].map((label) => h("th", { scope: "col" }, label)))),
    h(
      "tbody",
      {},
      tasks.map((task) =>
        h(
          "tr",
          {},
          h("td", { "data-label": "Task" }, h("a", { href: `#/tasks/${task.task_id}`, "aria-label": `Task ${task.task_id}` }, h("code", {}, shortId(task.task_id)))),
          h("td", { "data-label": "Function" }, task.function_id ? h("a", { href: `#/functions/${task.function_id}` }, task.app_name) : task.app_name),
          h("td", { "data-label": "Type" }, task.type),
          h("td", { "data-label": "Status" }, badge(task.status)),
          h("td", { "data-label": "Stage" }, task.stage ?? "—"),
          h("td", { "data-label": "Created" }, when(task.created_at)),
          h("td", { "data-label": "Error" }, task.error_code ? h("code", {}, task.error_code) : "—"),
        ),
      ),
    ),
  );
}
