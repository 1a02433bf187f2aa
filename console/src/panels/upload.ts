// Upload a function's source by drag and drop or a file input, with the upload's progress.

import { seg } from "../api";
import { showProblem } from "../components";
import { announce, h, nextId } from "../dom";
import type { FunctionItem, Task } from "../types";
import { ACCEPTED_EXTENSIONS, bytes, fileProblem, uploadForm, type UploadHandle } from "../upload";

/** The upload form of `fn`; `onTask` receives the task the server created (202). */
export function uploadPanel(fn: FunctionItem, onTask: (task: Task) => void): HTMLElement {
  const inputId = nextId("source");
  const input = h("input", {
    id: inputId,
    type: "file",
    name: "file",
    accept: ACCEPTED_EXTENSIONS.join(","),
    class: "file-input",
    "aria-describedby": `${inputId}-hint`,
  });
  const chosen = h("p", { class: "chosen", "aria-live": "polite" }, "No file chosen.");
  const zone = h(
    "div",
    { class: "dropzone" },
    h("p", { class: "dropzone-text", id: `${inputId}-hint` }, "Drop a ", h("code", {}, ".py"), " file or a ", h("code", {}, ".zip"),
      " (with an ", h("code", {}, "app.py"), ") here, or choose one:"),
    h("label", { for: inputId, class: "file-label" }, "Source file"),
    input,
    chosen,
  );
  const deployMode = h("input", { type: "radio", name: `mode-${inputId}`, value: "deploy", checked: true, id: `${inputId}-deploy` });
  const buildMode = h("input", { type: "radio", name: `mode-${inputId}`, value: "build", id: `${inputId}-build` });
  const modes = h(
    "fieldset",
    { class: "modes" },
    h("legend", {}, "What to run"),
    h("div", { class: "choice" }, deployMode, h("label", { for: deployMode.id }, "Build and deploy (the whole pipeline)")),
    h("div", { class: "choice" }, buildMode, h("label", { for: buildMode.id }, "Build only")),
  );
  const progressId = nextId("progress");
  const progress = h("progress", { id: progressId, max: 100, value: 0 });
  const progressText = h("span", { class: "progress-text" }, "");
  const progressRow = h("div", { class: "progress-row", hidden: true },
    h("label", { for: progressId }, "Upload"), progress, progressText);
  const submit = h("button", { type: "submit" }, "Upload");
  const cancel = h("button", { type: "button", class: "secondary", hidden: true }, "Cancel upload");
  const problem = h("div");
  const form = h("form", { class: "upload", "aria-label": `Upload the source of ${fn.name}` },
    zone, modes, h("div", { class: "actions" }, submit, cancel), progressRow, problem);

  let file: File | null = null;
  let handle: UploadHandle | null = null; // set while an upload runs
  const choose = (next: File | null): void => {
    file = next;
    const why = next ? fileProblem(next) : null;
    chosen.textContent = next ? `${next.name} (${bytes(next.size)})${why ? ` — ${why}` : ""}` : "No file chosen.";
    chosen.classList.toggle("bad", Boolean(why));
  };
  input.addEventListener("change", () => choose(input.files?.[0] ?? null));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const dropped = (event as DragEvent).dataTransfer?.files?.[0] ?? null;
    if (dropped) {
      choose(dropped);
      announce(`${dropped.name} chosen.`);
    }
  });
  cancel.addEventListener("click", () => handle?.abort());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (handle) return; // one upload at a time
    showProblem(problem, null);
    if (!file) {
      showProblem(problem, new Error("Choose a .py or .zip file first."), "Nothing to upload");
      input.focus();
      return;
    }
    const why = fileProblem(file);
    if (why) {
      showProblem(problem, new Error(why), "This file cannot be uploaded");
      input.focus();
      return;
    }
    const data = new FormData();
    let path = `/api/functions/${seg(fn.id)}/deploy`;
    if (buildMode.checked) {
      path = "/api/v1/build";
      data.set("workspace_id", fn.workspace_id);
      data.set("app_name", fn.name);
      data.set("function_id", fn.id);
    }
    data.set("file", file, file.name);
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus to the page.
    submit.setAttribute("aria-disabled", "true");
    cancel.hidden = false;
    progressRow.hidden = false;
    progress.value = 0;
    progressText.textContent = "0 %";
    let lastQuarter = -1;
    handle = uploadForm(path, data, (sent, total) => {
      const percent = total ? Math.round((sent / total) * 100) : 0;
      progress.value = percent;
      progressText.textContent = `${percent} % (${bytes(sent)} of ${bytes(total)})`;
      const quarter = Math.floor(percent / 25);
      if (quarter !== lastQuarter) {
        lastQuarter = quarter;
        announce(`Upload ${percent} percent.`); // four announcements, not a hundred
      }
    });
    try {
      const task = await handle.done;
      progress.value = 100;
      progressText.textContent = "Uploaded: the task has started.";
      announce(`Upload complete. Task ${task.type} started.`);
      onTask(task);
    } catch (error) {
      progressText.textContent = "Not uploaded.";
      showProblem(problem, error, "The upload was refused");
    } finally {
      submit.removeAttribute("aria-disabled");
      if (document.activeElement === cancel || document.activeElement === document.body) submit.focus();
      cancel.hidden = true;
      handle = null;
    }
  });
  return form;
}
