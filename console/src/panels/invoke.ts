// Try a function: test-invoke its latest build, or invoke the deployed function.

import { api, authHeaders, networkError, problemOf, seg } from "../api";
import { showProblem } from "../components";
import { announce, field, h, nextId, replace } from "../dom";
import type { FunctionItem, TestResult } from "../types";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** "Name: value" lines → a header map; throws on a line without a colon. */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`header line ${index + 1} needs "Name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

export function invokePanel(fn: FunctionItem): HTMLElement {
  const group = nextId("invoke");
  const testMode = h("input", { type: "radio", name: group, value: "test", id: `${group}-test`, checked: true });
  const liveMode = h("input", { type: "radio", name: group, value: "invoke", id: `${group}-invoke` });
  const method = h("select", { name: "method" }, METHODS.map((name) => h("option", { value: name }, name)));
  const path = h("input", { name: "path", value: "/", autocomplete: "off", spellcheck: "false" });
  const headers = h("textarea", { name: "headers", rows: 3, spellcheck: "false", placeholder: "content-type: application/json" });
  const body = h("textarea", { name: "body", rows: 4, spellcheck: "false" });
  const taskId = h("input", { name: "task_id", autocomplete: "off", spellcheck: "false", placeholder: "latest build" });
  const send = h("button", { type: "submit" }, "Send request");
  const problem = h("div");
  const output = h("div", { class: "invoke-result", "aria-live": "polite" });
  const taskField = field("Build to test (task id, optional)", taskId, "Empty: the function's latest successful build.");
  const form = h(
    "form",
    { class: "invoke", "aria-label": `Send a request to ${fn.name}` },
    h("fieldset", { class: "modes" },
      h("legend", {}, "Target"),
      h("div", { class: "choice" }, testMode, h("label", { for: testMode.id }, "Test the build (no deployment needed)")),
      h("div", { class: "choice" }, liveMode, h("label", { for: liveMode.id }, "The deployed function")),
    ),
    h("div", { class: "row" }, field("Method", method), field("Path", path)),
    field("Headers (one “Name: value” per line)", headers),
    field("Body", body),
    taskField,
    h("div", { class: "actions" }, send),
    problem,
    output,
  );
  const syncMode = (): void => {
    taskField.hidden = !testMode.checked;
  };
  testMode.addEventListener("change", syncMode);
  liveMode.addEventListener("change", syncMode);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (send.getAttribute("aria-disabled")) return; // a request is on its way
    showProblem(problem, null);
    replace(output);
    let headerMap: Record<string, string>;
    try {
      headerMap = parseHeaders(headers.value);
    } catch (error) {
      showProblem(problem, error, "The headers cannot be read");
      headers.focus();
      return;
    }
    const requestPath = path.value.startsWith("/") ? path.value : `/${path.value}`;
    send.setAttribute("aria-disabled", "true"); // not `disabled`: the focus stays on the button
    send.textContent = "Sending…";
    try {
      const result = testMode.checked
        ? await api<TestResult>(`/api/functions/${seg(fn.id)}/test`, {
            json: {
              method: method.value,
              path: requestPath,
              headers: headerMap,
              body: body.value,
              ...(taskId.value.trim() ? { task_id: taskId.value.trim() } : {}),
            },
          })
        : await invokeDeployed(fn, method.value, requestPath, headerMap, body.value);
      replace(output, resultView(result, testMode.checked));
      announce(`The function answered ${result.status}.`);
    } catch (error) {
      showProblem(problem, error, "The request did not reach the function");
    } finally {
      send.removeAttribute("aria-disabled");
      send.textContent = "Send request";
    }
  });
  return form;
}

async function invokeDeployed(
  fn: FunctionItem,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<TestResult> {
  const started = performance.now();
  let response: Response;
  try {
    response = await fetch(`/api/functions/${seg(fn.id)}/invoke${path}`, {
      method,
      headers: { ...headers, ...authHeaders() },
      body: method === "GET" || method === "HEAD" ? undefined : body,
    });
  } catch (cause) {
    throw networkError(cause);
  }
  const elapsed = performance.now() - started;
  // A problem+json from the control plane itself (not deployed, no such route) is shown as such.
  if (!response.ok && response.headers.get("content-type")?.includes("application/problem+json")) {
    throw await problemOf(response);
  }
  const answer: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    answer[name] = value;
  });
  return { status: response.status, headers: answer, body: await response.text(), duration_ms: elapsed };
}

function resultView(result: TestResult, isTest: boolean): HTMLElement {
  const block = (label: string, text: string | undefined): HTMLElement[] => [
    h("h4", {}, label),
    h("pre", { class: "output", tabindex: 0, "aria-label": label }, text ? text : "(empty)"),
  ];
  return h(
    "div",
    {},
    h("h3", {}, "Response"),
    h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", { class: "status-code" }, String(result.status)),
      h("dt", {}, "Duration"), h("dd", {}, result.duration_ms !== undefined ? `${result.duration_ms.toFixed(1)} ms${isTest ? "" : " (measured by the browser)"}` : "—"),
      result.error_code ? [h("dt", {}, "Error code"), h("dd", {}, h("code", {}, result.error_code))] : null,
    ),
    h("h4", {}, "Headers"),
    Object.keys(result.headers ?? {}).length
      ? h("dl", { class: "facts headers" }, Object.entries(result.headers).flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]))
      : h("p", {}, "(none)"),
    ...block(result.body_encoding === "base64" ? "Body (base64)" : "Body", result.body),
    ...(isTest
      ? [...block("stdout", result.stdout), ...block("stderr", result.stderr)]
      : [h("p", { class: "hint" }, "The deployed function's stdout and stderr are in its logs (source runtime), under the same X-Invocation-Id.")]),
  );
}
