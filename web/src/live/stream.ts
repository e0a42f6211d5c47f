// The live event stream of one user, shared by every tab of the browser.
//
// Browsers open at most six HTTP/1.1 connections per origin, and an EventSource holds one for
// good: a seventh tab with its own stream would hang. So the tabs of one user elect a leader
// with the Web Locks API (the lock is held for the tab's lifetime and passes to a waiting tab
// when the leader closes); only the leader opens the EventSource, and it relays each event and
// each change of connection state to the other tabs over a BroadcastChannel. Without locks or
// BroadcastChannel every tab streams on its own.

import { STREAM_EVENTS } from "../reports/events";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "offline";
export type LiveRole = "leader" | "follower" | "solo";

export type LiveMessage =
  /** An SSE event as received: its type, raw data and id. */
  | { kind: "event"; type: string; data: string; id: string }
  | { kind: "state"; state: ConnectionState }
  /** The stream (re)opened: whatever happened while it was down, or before it first opened,
   *  is only known from a fresh list. */
  | { kind: "resync" };

/** Messages a tab hands to its page: the relayed ones plus its own role. */
export type LocalMessage = LiveMessage | { kind: "role"; role: LiveRole };

// ---- what the module needs from the browser (injected, so tests can stand in for it) ----

export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}

export interface ChannelLike {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

export interface LocksLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void> | void): Promise<unknown>;
}

export interface LiveEnv {
  openEventSource(url: string): EventSourceLike;
  /** Absent where BroadcastChannel is not supported. */
  openChannel?: ((name: string) => ChannelLike) | undefined;
  /** Absent where the Web Locks API is not (it needs a secure context: https or localhost). */
  locks?: LocksLike | undefined;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export function browserEnv(): LiveEnv {
  const locks = typeof navigator !== "undefined" ? (navigator.locks as LocksLike | undefined) : undefined;
  return {
    openEventSource: (url) => new EventSource(url),
    openChannel: typeof BroadcastChannel === "function" ? (name) => new BroadcastChannel(name) : undefined,
    locks,
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

export const CLOSED = 2;

export interface StreamTiming {
  /** A stream down this long is shown as offline rather than reconnecting. */
  offlineAfterMs: number;
  /** Delays before opening a new EventSource after the browser gave one up for good. */
  retryMinMs: number;
  retryMaxMs: number;
}

export const DEFAULT_TIMING: StreamTiming = { offlineAfterMs: 10_000, retryMinMs: 1_000, retryMaxMs: 30_000 };

/** The stream's URL. `lastEventId` resumes after that event where the browser cannot send the
 *  Last-Event-ID header itself: in a new EventSource, or in a tab taking over as leader. */
export function streamUrl(userId: string, lastEventId = ""): string {
  const base = `/v4/sse?user_id=${encodeURIComponent(userId)}`;
  return RESUMABLE_ID.test(lastEventId) ? `${base}&lastEventId=${lastEventId}` : base;
}

// Event ids are decimal; anything else would be refused and make every reopen fail.
const RESUMABLE_ID = /^[0-9]{1,20}$/;

export function leaderLockName(userId: string): string {
  return `ssehub-sse-leader-${userId}`;
}

export function channelName(userId: string): string {
  return `ssehub-sse-${userId}`;
}

/** Owns the EventSource of one tab and turns what it does into LiveMessages.
 *
 *  While the connection drops, the browser reconnects by itself and sends Last-Event-ID, so the
 *  server replays what was missed. But an EventSource that got an HTTP error or a wrong content
 *  type (a proxy's 502 while the server restarts) is closed for good; then a new one is opened
 *  after a growing delay, resuming after the last event seen through the URL. Every open also asks
 *  the page to refetch the list, so nothing is missed even where no resume is possible. */
export class StreamOwner {
  private source: EventSourceLike | null = null;
  private lastEventId: string;
  private state: ConnectionState = "connecting";
  private offlineTimer: unknown = null;
  private retryTimer: unknown = null;
  private retryDelay: number;
  private stopped = false;

  constructor(
    private readonly userId: string,
    private readonly emit: (message: LiveMessage) => void,
    private readonly env: LiveEnv,
    private readonly timing: StreamTiming = DEFAULT_TIMING,
    lastEventId = "",
  ) {
    this.lastEventId = lastEventId;
    this.retryDelay = timing.retryMinMs;
    this.emit({ kind: "state", state: this.state });
    this.open();
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    this.source = null;
    this.cancelTimer("offlineTimer");
    this.cancelTimer("retryTimer");
  }

  private open(): void {
    if (this.stopped) return;
    const source = this.env.openEventSource(streamUrl(this.userId, this.lastEventId));
    this.source = source;
    const current = () => this.source === source && !this.stopped;

    source.addEventListener("open", () => {
      if (!current()) return;
      this.cancelTimer("offlineTimer");
      this.retryDelay = this.timing.retryMinMs;
      this.setState("live");
      this.emit({ kind: "resync" });
    });
    source.addEventListener("error", () => {
      if (!current()) return;
      if (source.readyState === CLOSED) {
        source.close();
        this.source = null;
        this.retryTimer = this.env.setTimeout(() => {
          this.retryTimer = null;
          this.open();
        }, this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, this.timing.retryMaxMs);
      }
      this.connectionLost();
    });
    for (const type of STREAM_EVENTS) {
      source.addEventListener(type, (event) => {
        if (!current()) return;
        const message = event as MessageEvent;
        const id = message.lastEventId ?? "";
        if (id) this.lastEventId = id;
        this.emit({ kind: "event", type, data: String(message.data), id });
      });
    }
  }

  private connectionLost(): void {
    if (this.state === "offline") return;
    this.setState("reconnecting");
    if (this.offlineTimer === null) {
      this.offlineTimer = this.env.setTimeout(() => {
        this.offlineTimer = null;
        this.setState("offline");
      }, this.timing.offlineAfterMs);
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit({ kind: "state", state });
  }

  private cancelTimer(which: "offlineTimer" | "retryTimer"): void {
    if (this[which] !== null) this.env.clearTimeout(this[which]);
    this[which] = null;
  }
}

function isLiveMessage(value: unknown): value is LiveMessage {
  if (typeof value !== "object" || value === null) return false;
  const message = value as Record<string, unknown>;
  switch (message.kind) {
    case "event":
      return typeof message.type === "string" && typeof message.data === "string" && typeof message.id === "string";
    case "state":
      return typeof message.state === "string";
    case "resync":
      return true;
    default:
      return false;
  }
}

/** Starts receiving the live stream of `userId` in this tab; `onMessage` gets every event and
 *  state change, whichever tab holds the connection. Returns a function that stops it (and hands
 *  the stream to another tab if this one led). */
export function connectLive(
  userId: string,
  onMessage: (message: LocalMessage) => void,
  env: LiveEnv = browserEnv(),
  timing: StreamTiming = DEFAULT_TIMING,
): () => void {
  if (!env.locks || !env.openChannel) {
    onMessage({ kind: "role", role: "solo" });
    const owner = new StreamOwner(userId, onMessage, env, timing);
    return () => owner.stop();
  }

  const channel = env.openChannel(channelName(userId));
  const waiting = new AbortController();
  let owner: StreamOwner | null = null;
  let releaseLock: (() => void) | null = null;
  let stopped = false;
  // The id of the last event relayed to this tab: where its stream resumes if it becomes leader.
  let lastEventId = "";

  onMessage({ kind: "role", role: "follower" });
  onMessage({ kind: "state", state: "connecting" });

  channel.onmessage = (event) => {
    const message: unknown = event.data;
    if (owner) {
      // A tab that just started asks for the state it missed.
      if (typeof message === "object" && message !== null && (message as { kind?: unknown }).kind === "hello") {
        channel.postMessage({ kind: "state", state: owner.connectionState });
      }
      return;
    }
    if (!isLiveMessage(message)) return;
    if (message.kind === "event" && message.id) lastEventId = message.id;
    onMessage(message);
  };
  channel.postMessage({ kind: "hello" });

  env.locks
    .request(leaderLockName(userId), { signal: waiting.signal }, () => {
      if (stopped) return;
      onMessage({ kind: "role", role: "leader" });
      // BroadcastChannel does not deliver to its sender: the leader applies each message itself.
      owner = new StreamOwner(
        userId,
        (message) => {
          onMessage(message);
          channel.postMessage(message);
        },
        env,
        timing,
        lastEventId,
      );
      return new Promise<void>((resolve) => {
        releaseLock = resolve;
      });
    })
    .catch(() => {
      // Aborted while still waiting for the lock: this tab stopped as a follower.
    });

  return () => {
    stopped = true;
    waiting.abort();
    owner?.stop();
    owner = null;
    releaseLock?.();
    channel.onmessage = null;
    channel.close();
  };
}
