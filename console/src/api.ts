// Every call to the backend: same origin, the bearer token if one is set, problem+json errors.

import type { Problem } from "./types";

const TOKEN_KEY = "faas-console.token";

/** The token the user gave: this tab's (sessionStorage) first, then the remembered one. */
export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? "";
}

/** Keep `token` for this tab, or on this device when `remember` is set; "" forgets it. */
export function setToken(token: string, remember: boolean): void {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  if (!token) return;
  (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
}

export function tokenRemembered(): boolean {
  return localStorage.getItem(TOKEN_KEY) !== null;
}

/** The Authorization header for the current token (empty when there is none). */
export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A failed call: the server's problem (RFC 9457), or one describing what went wrong locally. */
export class ApiError extends Error {
  readonly problem: Problem;
  readonly status: number;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.problem = problem;
    this.status = problem.status ?? 0;
  }
}

const listeners = new Set<(error: ApiError) => void>();
/** Called for every 401, so the page can ask for a token. */
export function onUnauthorized(listener: (error: ApiError) => void): void {
  listeners.add(listener);
}

/** Turn a non-2xx response into an ApiError, reading problem+json when the server sent it. */
export async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  return problemFromText(response.status, response.statusText, response.headers.get("content-type"), text);
}

export function problemFromText(
  status: number,
  statusText: string,
  contentType: string | null,
  text: string,
): ApiError {
  let problem: Problem = { title: `HTTP ${status}${statusText ? ` ${statusText}` : ""}`, status };
  if (contentType?.includes("json")) {
    try {
      const body = JSON.parse(text) as Partial<Problem> & { detail?: unknown };
      problem = {
        ...problem,
        ...body,
        title: typeof body.title === "string" ? body.title : problem.title,
        detail: typeof body.detail === "string" ? body.detail : body.detail ? JSON.stringify(body.detail) : undefined,
        status: typeof body.status === "number" ? body.status : status,
      };
    } catch {
      problem.detail = text.slice(0, 500);
    }
  } else if (text) {
    problem.detail = text.slice(0, 500);
  }
  const error = new ApiError(problem);
  if (status === 401) for (const listener of listeners) listener(error);
  return error;
}

export function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ApiError({ title: "The backend did not answer", detail, code: "NETWORK_ERROR" });
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  query?: Record<string, string | number | undefined | null>;
  signal?: AbortSignal;
}

export function withQuery(path: string, query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Call the API and parse its JSON answer (undefined for 204); throws ApiError otherwise. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method: options.method ?? (body ? "POST" : "GET"),
      headers,
      body,
      signal: options.signal,
      credentials: "same-origin",
    });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw networkError(cause);
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The id's path segment, escaped. */
export const seg = (value: string): string => encodeURIComponent(value);
