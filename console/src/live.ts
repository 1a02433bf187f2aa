// Following something that changes: its event stream when the backend has one, else polling.

import { readEventStream, streamMissing, type ServerEvent } from "./sse";

export type LiveMode = "connecting" | "stream" | "polling" | "stopped";

export interface FollowOptions {
  /** The SSE route. */
  streamPath: string;
  signal: AbortSignal;
  /** Each event of the stream (not called while polling). */
  onEvent: (event: ServerEvent) => void;
  /** One poll; its result says whether to go on. Also called once after each (re)connect. */
  poll: () => Promise<"continue" | "stop">;
  pollEveryMs: number;
  /** The stream ended by the server: go on (reconnect with Last-Event-ID) or stop. */
  shouldReconnect: () => boolean;
  onMode?: (mode: LiveMode, detail?: string) => void;
  /** A connection opened: `resumed` when it carried Last-Event-ID (a fresh one replays all). */
  onOpen?: (resumed: boolean) => void;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

/**
 * Stream `streamPath`, reconnecting with Last-Event-ID after a drop; when the route answers
 * 404 (not deployed yet on this backend) or keeps failing, poll every `pollEveryMs` instead.
 */
export async function follow(options: FollowOptions): Promise<void> {
  const { signal } = options;
  let lastEventId: string | null = null;
  let failures = 0;
  while (!signal.aborted) {
    options.onMode?.("connecting");
    try {
      lastEventId = await readEventStream(options.streamPath, {
        lastEventId,
        signal,
        onOpen: () => {
          failures = 0;
          options.onOpen?.(lastEventId !== null);
          options.onMode?.("stream");
        },
        onEvent: options.onEvent,
      });
      if (!options.shouldReconnect()) break;
      await sleep(1000, signal); // a server that closes at once is not hammered
    } catch (error) {
      if (signal.aborted) return;
      if (streamMissing(error)) {
        options.onMode?.("polling", "this backend has no event stream here; polling instead");
        await pollLoop(options);
        return;
      }
      failures += 1;
      if (failures >= 3) {
        options.onMode?.("polling", "the event stream keeps failing; polling instead");
        await pollLoop(options);
        return;
      }
      await sleep(500 * 2 ** failures, signal);
      if ((await options.poll()) === "stop") break; // catch up on what the drop may have hidden
    }
  }
  options.onMode?.("stopped");
}

async function pollLoop(options: FollowOptions): Promise<void> {
  while (!options.signal.aborted) {
    if ((await options.poll()) === "stop") break;
    await sleep(options.pollEveryMs, options.signal);
  }
  if (!options.signal.aborted) options.onMode?.("stopped");
}

/** Run `task` at most once per `ms` however often it is asked for (trailing call kept). */
export function throttle(task: () => Promise<void>, ms: number): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } finally {
      setTimeout(() => {
        running = false;
        if (again) {
          again = false;
          void run();
        }
      }, ms);
    }
  };
  return () => void run();
}
