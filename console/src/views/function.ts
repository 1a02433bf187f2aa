// A function: its deployment, an upload with the live task, a test panel, logs, revisions.

import { api, seg } from "../api";
import { badge, confirmAction, problemBox, section, shortId, toProblem } from "../components";
import { announce, h, replace, when } from "../dom";
import type { ViewContext } from "../main";
import { deploymentPanel } from "../panels/deployment";
import { invokePanel } from "../panels/invoke";
import { logsPanel } from "../panels/logs";
import { uploadPanel } from "../panels/upload";
import { watchTask } from "../taskwatch";
import { TERMINAL, type FunctionItem, type Task, type Workspace } from "../types";

export async function renderFunction({ main, signal, setTitle }: ViewContext, functionId: string): Promise<void> {
  setTitle("Function", [{ label: "Workspaces", href: "#/" }, { label: "Function" }]);
  let fn: FunctionItem;
  try {
    fn = await api<FunctionItem>(`/api/functions/${seg(functionId)}`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    replace(main, h("h1", { tabindex: -1 }, "Function"), problemBox(toProblem(error), "The function could not be read"));
    return;
  }
  const workspace = await api<Workspace>(`/api/workspaces/${seg(fn.workspace_id)}`, { signal }).catch(() => null);
  setTitle(fn.name, [
    { label: "Workspaces", href: "#/" },
    { label: workspace?.name ?? "Workspace", href: `#/workspaces/${fn.workspace_id}` },
    { label: fn.name },
  ]);

  const facts = h("dl", { class: "facts" });
  const showFacts = (current: FunctionItem): void => {
    replace(
      facts,
      h("dt", {}, "Deployment"), h("dd", { class: "deployment-status" }, badge(current.deployment_status)),
      h("dt", {}, "Endpoint"), h("dd", {}, current.endpoint ? h("a", { href: current.endpoint, class: "endpoint" }, current.endpoint) : "— (not deployed)"),
      h("dt", {}, "Replicas"), h("dd", {}, String(current.replicas)),
      h("dt", {}, "Latest task"), h("dd", {}, current.latest_task_id ? h("a", { href: `#/tasks/${current.latest_task_id}` }, h("code", {}, shortId(current.latest_task_id))) : "—"),
      h("dt", {}, "Image"), h("dd", {}, current.image_url ? h("code", { class: "wrap" }, current.image_url) : "—"),
      h("dt", {}, "Updated"), h("dd", {}, when(current.updated_at)),
    );
  };
  showFacts(fn);
  const refreshFunction = async (): Promise<void> => {
    try {
      fn = await api<FunctionItem>(`/api/functions/${seg(fn.id)}`, { signal });
      showFacts(fn);
    } catch {
      /* the header keeps its last state; the task panel shows what failed */
    }
  };

  const logs = logsPanel(fn, signal);
  // The task panel follows one task at a time: the latest one, or the one an upload started.
  const taskSlot = h("div", { class: "task-slot" });
  let watcher: AbortController | null = null;
  let lastStatus = "";
  const watch = (taskId: string): void => {
    watcher?.abort();
    watcher = new AbortController();
    signal.addEventListener("abort", () => watcher?.abort(), { once: true });
    lastStatus = "";
    replace(taskSlot, watchTask(taskId, {
      signal: watcher.signal,
      onTask: (task: Task) => {
        const status = `${task.status}:${task.stage}`;
        if (status !== lastStatus) {
          lastStatus = status;
          void refreshFunction();
          if (TERMINAL.has(task.status)) {
            logs.reload();
            deployment.reload();
          }
        }
      },
    }));
  };
  const deployment = deploymentPanel(fn, signal, (task) => watch(task.task_id));
  if (fn.latest_task_id) watch(fn.latest_task_id);
  else replace(taskSlot, h("p", {}, "No build yet: upload the function's source above."));

  const remove = h("button", { type: "button", class: "danger" }, `Delete ${fn.name}`);
  remove.addEventListener("click", async () => {
    if (!(await confirmAction(`Delete the function ${fn.name}?`, `Delete ${fn.name}`))) {
      remove.focus();
      return;
    }
    try {
      await api(`/api/functions/${seg(fn.id)}`, { method: "DELETE" });
      announce(`Function ${fn.name} deleted.`);
      location.hash = `#/workspaces/${fn.workspace_id}`;
    } catch (error) {
      replace(deleteProblem, problemBox(toProblem(error), "Not deleted"));
    }
  });
  const deleteProblem = h("div");

  const sections: [string, string, HTMLElement][] = [
    ["upload", "Upload and deploy", uploadPanel(fn, (task) => {
      watch(task.task_id);
      void refreshFunction();
    })],
    ["task", "Build and deployment progress", taskSlot],
    ["try", "Try it", invokePanel(fn)],
    ["logs", "Logs", logs.element],
    ["deployment", "Scale and revisions", deployment.element],
  ];
  const blocks = sections.map(([id, title, body]) => {
    const block = section(title, body);
    block.id = `sec-${id}`;
    return block;
  });
  replace(
    main,
    h("h1", { tabindex: -1 }, fn.name),
    fn.description ? h("p", { class: "lead" }, fn.description) : null,
    h("nav", { class: "in-page", "aria-label": "Sections of this page" },
      h("ul", {}, sections.map(([id, title]) => h("li", {}, h("a", { href: `#/functions/${fn.id}`, "data-target": `sec-${id}` }, title))))),
    facts,
    h("div", { class: "actions" }, remove),
    deleteProblem,
    // Upload and progress side by side on a wide screen: the file goes in, the build moves.
    h("div", { class: "pair" }, blocks.slice(0, 2)),
    blocks.slice(2),
  );
  // Hash routing owns location.hash: in-page links scroll and move focus themselves.
  main.querySelectorAll<HTMLAnchorElement>("nav.in-page a").forEach((link) =>
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const target = document.getElementById(link.dataset.target ?? "");
      const heading = target?.querySelector<HTMLElement>("h2");
      if (heading) {
        heading.tabIndex = -1;
        heading.focus();
        heading.scrollIntoView({ block: "start" });
      }
    }),
  );
}
