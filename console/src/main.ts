// The console's entry: the access-token form, the hash router, and focus on navigation.

import "./style.css";
import { getToken, onUnauthorized, setToken, tokenRemembered } from "./api";
import { announce, h, replace } from "./dom";
import { renderFunction } from "./views/function";
import { renderTask } from "./views/task";
import { renderWorkspace } from "./views/workspace";
import { renderWorkspaces } from "./views/workspaces";

export interface Crumb {
  label: string;
  href?: string;
}

export interface ViewContext {
  main: HTMLElement;
  signal: AbortSignal;
  /** Set the page's heading, title and breadcrumb trail. */
  setTitle: (title: string, trail: Crumb[]) => void;
}

type View = (context: ViewContext, id: string) => Promise<void> | void;

const ROUTES: [RegExp, View][] = [
  [/^\/?$/, (context) => renderWorkspaces(context)],
  [/^\/workspaces\/([^/]+)$/, renderWorkspace],
  [/^\/functions\/([^/]+)$/, renderFunction],
  [/^\/tasks\/([^/]+)$/, renderTask],
];

let current: AbortController | null = null;

function setTitle(title: string, trail: Crumb[]): void {
  document.title = `${title} · FaaS console`;
  const nav = document.getElementById("breadcrumb");
  if (!nav) return;
  const items = trail.map((crumb, index) =>
    h("li", {}, crumb.href && index < trail.length - 1
      ? h("a", { href: crumb.href }, crumb.label)
      : h("span", { "aria-current": "page" }, crumb.label)),
  );
  replace(nav, trail.length ? h("ol", {}, items) : null);
}

/** The route in the hash ("#/functions/…"); null for an in-page anchor such as "#main". */
function routePath(): string | null {
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (hash === "") return "/";
  return hash.startsWith("/") ? hash : null;
}

async function route(moveFocus: boolean): Promise<void> {
  const path = routePath() ?? (current ? null : "/");
  if (path === null) {
    // An anchor (the skip link): focus its target and keep the current page.
    document.getElementById(location.hash.slice(1))?.focus();
    return;
  }
  current?.abort();
  current = new AbortController();
  const main = document.getElementById("main") as HTMLElement;
  replace(main);
  const context: ViewContext = { main, signal: current.signal, setTitle };
  const match = ROUTES.map(([pattern, view]) => [path.match(pattern), view] as const).find(([m]) => m);
  if (!match) {
    setTitle("Not found", [{ label: "Workspaces", href: "#/" }, { label: "Not found" }]);
    replace(main, h("h1", { tabindex: -1 }, "Nothing here"), h("p", {}, h("a", { href: "#/" }, "Back to the workspaces")));
  } else {
    const [m, view] = match;
    await view(context, m![1] ?? "");
  }
  if (context.signal.aborted) return; // the user went elsewhere meanwhile
  // After a navigation, keyboard and screen-reader users land on the new page's heading.
  if (moveFocus) main.querySelector<HTMLElement>("h1")?.focus();
}

function setUpAccess(): void {
  const details = document.getElementById("access") as HTMLDetailsElement;
  const form = document.getElementById("access-form") as HTMLFormElement;
  const input = document.getElementById("access-token") as HTMLInputElement;
  const remember = document.getElementById("access-remember") as HTMLInputElement;
  const state = document.getElementById("access-state") as HTMLElement;
  const summary = details.querySelector("summary") as HTMLElement;
  const describe = (): void => {
    const has = Boolean(getToken());
    state.textContent = has
      ? `A token is set${tokenRemembered() ? " and remembered on this device" : " for this tab"}.`
      : "No token is set: requests go without one.";
    summary.textContent = has ? "Access token (set)" : "Access token";
  };
  input.value = getToken();
  remember.checked = tokenRemembered();
  describe();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim(), remember.checked);
    describe();
    announce("Token saved. Reloading the page's data.");
    void route(false);
  });
  document.getElementById("access-clear")?.addEventListener("click", () => {
    setToken("", false);
    input.value = "";
    remember.checked = false;
    describe();
    announce("Token forgotten.");
  });
  onUnauthorized(() => {
    if (!details.open) {
      details.open = true;
      state.textContent = "The backend asks for a token (401). Enter one and press “Use token”.";
    }
  });
}

setUpAccess();
// The skip link moves the focus without touching the hash (the hash holds the route).
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});
window.addEventListener("hashchange", () => void route(true));
void route(false);
