// One task on its own page (linked from the task history).

import { api, seg } from "../api";
import { problemBox, section, toProblem } from "../components";
import { h, replace, when } from "../dom";
import type { ViewContext } from "../main";
import { watchTask } from "../taskwatch";
import type { Task, Workspace } from "../types";

export async function renderTask({ main, signal, setTitle }: ViewContext, taskId: string): Promise<void> {
  setTitle("Task", [{ label: "Workspaces", href: "#/" }, { label: "Task" }]);
  let task: Task;
  try {
    task = await api<Task>(`/api/v1/tasks/${seg(taskId)}`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    replace(main, h("h1", { tabindex: -1 }, "Task"), problemBox(toProblem(error), "The task could not be read"));
    return;
  }
  const workspace = await api<Workspace>(`/api/workspaces/${seg(task.workspace_id)}`, { signal }).catch(() => null);
  const trail = [
    { label: "Workspaces", href: "#/" },
    { label: workspace?.name ?? "Workspace", href: `#/workspaces/${task.workspace_id}` },
    ...(task.function_id ? [{ label: task.app_name, href: `#/functions/${task.function_id}` }] : []),
    { label: `Task ${task.task_id.slice(-6)}` },
  ];
  setTitle(`Task ${task.task_id}`, trail);
  const resultSlot = h("div");
  const showResult = (current: Task): void => {
    const facts = Object.entries(current.result ?? {}).filter(
      ([, value]) => value !== null && value !== undefined && typeof value !== "object",
    );
    replace(
      resultSlot,
      facts.length
        ? h("dl", { class: "facts" }, facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, h("code", {}, String(value)))]))
        : h("p", {}, "Nothing yet."),
    );
  };
  showResult(task);
  replace(
    main,
    h("h1", { tabindex: -1 }, `${task.type} task of ${task.app_name}`),
    h("p", { class: "meta" }, "id ", h("code", {}, task.task_id), " · created ", when(task.created_at)),
    section("Progress", watchTask(task.task_id, { signal, onTask: showResult })),
    section("Result", resultSlot),
  );
}
