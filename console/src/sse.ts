// Server-sent events read through fetch (EventSource cannot send an Authorization header).

import { ApiError, authHeaders, networkError, problemOf } from "./api";

export interface ServerEvent {
  event: string; // "message" when the server named none
  data: string;
  id: string | null;
}

/** Parses the text/event-stream format (WHATWG HTML §9.2) chunk by chunk. */
export class EventStreamParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private hasData = false;
  /** The last id seen, kept across events as the spec says (sent back as Last-Event-ID). */
  lastEventId: string | null = null;
  retry: number | null = null;

  constructor(private readonly dispatch: (event: ServerEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
    const usable = this.buffer.endsWith("\r") ? this.buffer.length - 1 : this.buffer.length;
    const pattern = /\r\n|\r|\n/g;
    let start = 0;
    let match: RegExpExecArray | null;
    while ((match = pattern.exec(this.buffer)) !== null && match.index < usable) {
      this.line(this.buffer.slice(start, match.index));
      start = match.index + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") {
      this.flush();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (name) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
  }

  private flush(): void {
    if (this.hasData) {
      this.dispatch({ event: this.event || "message", data: this.data.join("\n"), id: this.lastEventId });
    }
    this.data = [];
    this.event = "";
    this.hasData = false;
  }
}

export interface StreamOptions {
  lastEventId?: string | null;
  signal: AbortSignal;
  onOpen?: () => void;
  onEvent: (event: ServerEvent) => void;
}

/**
 * Read `path` as an event stream until the server closes it (resolves with the last event id)
 * or `signal` aborts. A non-2xx answer throws its ApiError before any event is read.
 */
export async function readEventStream(path: string, options: StreamOptions): Promise<string | null> {
  const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders() };
  if (options.lastEventId) headers["Last-Event-ID"] = options.lastEventId;
  let response: Response;
  try {
    response = await fetch(path, { headers, signal: options.signal, cache: "no-store" });
  } catch (cause) {
    if (options.signal.aborted) throw cause;
    throw networkError(cause);
  }
  if (!response.ok) throw await problemOf(response);
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/event-stream") || !response.body) {
    await response.body?.cancel();
    throw new ApiError({
      title: "Not an event stream",
      status: response.status,
      detail: `${path} answered ${type || "no content type"}`,
      code: "NOT_AN_EVENT_STREAM",
    });
  }
  options.onOpen?.();
  const parser = new EventStreamParser(options.onEvent);
  parser.lastEventId = options.lastEventId ?? null;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
  } catch (cause) {
    if (options.signal.aborted) throw cause;
    throw networkError(cause);
  } finally {
    reader.releaseLock();
  }
  // An event cut off by the close (no blank line after it) is dropped, as EventSource does.
  return parser.lastEventId;
}

/** True when the route is not there (yet): the caller falls back to polling. */
export function streamMissing(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    (error.status === 404 || error.status === 405 || error.status === 501 || error.problem.code === "NOT_AN_EVENT_STREAM")
  );
}
