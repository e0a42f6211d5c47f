import { describe, expect, it } from "vitest";
import {
  channelName,
  connectLive,
  leaderLockName,
  StreamOwner,
  streamUrl,
  type ChannelLike,
  type LiveEnv,
  type LocalMessage,
  type LocksLike,
  type StreamTiming,
} from "./stream";

const USER = "6f1c3b1e-8a43-4a3f-9a66-0c7f2f8f5b10";
const TIMING: StreamTiming = { offlineAfterMs: 10_000, retryMinMs: 1_000, retryMaxMs: 4_000 };

// ---- stand-ins for the browser ----

class FakeEventSource {
  readyState = 0;
  closed = false;
  private listeners = new Map<string, Array<(event: Event) => void>>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  private fire(type: string, event: Event): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }

  open(): void {
    this.readyState = 1;
    this.fire("open", new Event("open"));
  }

  send(type: string, data: string, id: string): void {
    this.fire(type, new MessageEvent(type, { data, lastEventId: id }));
  }

  /** The connection dropped; the browser will reconnect by itself. */
  drop(): void {
    this.readyState = 0;
    this.fire("error", new Event("error"));
  }

  /** The browser gave up for good (an HTTP error status, a wrong content type). */
  fail(): void {
    this.readyState = 2;
    this.fire("error", new Event("error"));
  }
}

/** Delivers like BroadcastChannel: asynchronously, to every other open channel of the name. */
class FakeBus {
  private channels = new Set<{ name: string; channel: ChannelLike; open: boolean }>();

  open(name: string): ChannelLike {
    const entry = { name, open: true, channel: null as unknown as ChannelLike };
    const bus = this;
    entry.channel = {
      onmessage: null,
      postMessage(message: unknown) {
        if (!entry.open) throw new Error("posted on a closed channel");
        const data = structuredClone(message);
        for (const other of bus.channels) {
          if (other === entry || other.name !== name) continue;
          queueMicrotask(() => {
            if (other.open) other.channel.onmessage?.(new MessageEvent("message", { data }));
          });
        }
      },
      close() {
        entry.open = false;
        bus.channels.delete(entry);
      },
    };
    this.channels.add(entry);
    return entry.channel;
  }
}

/** Exclusive locks granted in request order, like navigator.locks. */
class FakeLocks implements LocksLike {
  private held = new Set<string>();
  private queues = new Map<string, Array<() => void>>();

  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void> | void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        options.signal.removeEventListener("abort", onAbort);
        this.held.add(name);
        Promise.resolve()
          .then(callback)
          .then(resolve, reject)
          .finally(() => {
            this.held.delete(name);
            this.queues.get(name)?.shift()?.();
          });
      };
      const onAbort = () => {
        const queue = this.queues.get(name) ?? [];
        this.queues.set(
          name,
          queue.filter((g) => g !== grant),
        );
        reject(new DOMException("aborted", "AbortError"));
      };
      if (options.signal.aborted) return onAbort();
      options.signal.addEventListener("abort", onAbort);
      if (this.held.has(name)) this.queues.set(name, [...(this.queues.get(name) ?? []), grant]);
      else {
        this.held.add(name); // taken now; the callback runs a little later, as in browsers
        queueMicrotask(grant);
      }
    });
  }
}

class ManualClock {
  now = 0;
  private timers: Array<{ at: number; callback: () => void; handle: number }> = [];
  private next = 1;

  setTimeout = (callback: () => void, ms: number): unknown => {
    const handle = this.next++;
    this.timers.push({ at: this.now + ms, callback, handle });
    return handle;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter((t) => t.handle !== handle);
  };

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = due.at;
      due.callback();
    }
    this.now = until;
  }

  get pending(): number {
    return this.timers.length;
  }
}

interface Browser {
  sources: FakeEventSource[];
  clock: ManualClock;
  env(options?: { locks?: boolean; channels?: boolean }): LiveEnv;
  live(): FakeEventSource[];
}

function browser(): Browser {
  const sources: FakeEventSource[] = [];
  const clock = new ManualClock();
  const bus = new FakeBus();
  const locks = new FakeLocks();
  return {
    sources,
    clock,
    env: ({ locks: withLocks = true, channels = true } = {}) => ({
      openEventSource: (url) => {
        const source = new FakeEventSource(url);
        sources.push(source);
        return source;
      },
      openChannel: channels ? (name) => bus.open(name) : undefined,
      locks: withLocks ? locks : undefined,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
    }),
    live: () => sources.filter((s) => !s.closed),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

function tab(b: Browser, options?: { locks?: boolean; channels?: boolean }) {
  const messages: LocalMessage[] = [];
  const stop = connectLive(USER, (m) => messages.push(m), b.env(options), TIMING);
  const of = <K extends LocalMessage["kind"]>(kind: K) =>
    messages.filter((m): m is Extract<LocalMessage, { kind: K }> => m.kind === kind);
  return {
    messages,
    stop,
    role: () => of("role").at(-1)?.role,
    state: () => of("state").at(-1)?.state,
    events: () => of("event").map((m) => `${m.type}#${m.id}:${m.data}`),
    resyncs: () => of("resync").length,
  };
}

// ---- the stream of one tab ----

describe("StreamOwner", () => {
  function owner() {
    const b = browser();
    const messages: LocalMessage[] = [];
    const stream = new StreamOwner(USER, (m) => messages.push(m), b.env(), TIMING);
    const states = () => messages.flatMap((m) => (m.kind === "state" ? [m.state] : []));
    return { b, messages, stream, states };
  }

  it("opens one EventSource on the user's same-origin stream URL", () => {
    const { b, states } = owner();
    expect(b.sources.map((s) => s.url)).toEqual([`/v4/sse?user_id=${USER}`]);
    expect(states()).toEqual(["connecting"]);
  });

  it("is live once open, and asks for a resync on every open", () => {
    const { b, messages, states, stream } = owner();
    b.sources[0]!.open();
    expect(states()).toEqual(["connecting", "live"]);
    expect(stream.connectionState).toBe("live");
    expect(messages.filter((m) => m.kind === "resync")).toHaveLength(1);
    b.sources[0]!.drop();
    b.sources[0]!.open();
    expect(messages.filter((m) => m.kind === "resync")).toHaveLength(2);
  });

  it("passes on each event with its type, data and id", () => {
    const { b, messages } = owner();
    const source = b.sources[0]!;
    source.open();
    source.send("report_created", '{"a":1}', "7");
    source.send("report_status_update", '{"b":2}', "8");
    source.send("reset", '{"reason":"gap"}', "9");
    expect(messages.filter((m) => m.kind === "event")).toEqual([
      { kind: "event", type: "report_created", data: '{"a":1}', id: "7" },
      { kind: "event", type: "report_status_update", data: '{"b":2}', id: "8" },
      { kind: "event", type: "reset", data: '{"reason":"gap"}', id: "9" },
    ]);
  });

  it("shows reconnecting while the browser retries, and offline when that lasts", () => {
    const { b, states } = owner();
    const source = b.sources[0]!;
    source.open();
    source.drop();
    expect(states().at(-1)).toBe("reconnecting");
    source.drop(); // each failed retry fires error again
    b.clock.advance(TIMING.offlineAfterMs - 1);
    expect(states().at(-1)).toBe("reconnecting");
    b.clock.advance(1);
    expect(states().at(-1)).toBe("offline");
    source.drop();
    expect(states().at(-1)).toBe("offline");
    source.open();
    expect(states()).toEqual(["connecting", "live", "reconnecting", "offline", "live"]);
    expect(b.sources).toHaveLength(1); // the browser's own reconnect: no new EventSource
  });

  it("does not turn offline after a short outage", () => {
    const { b, states } = owner();
    b.sources[0]!.open();
    b.sources[0]!.drop();
    b.clock.advance(2_000);
    b.sources[0]!.open();
    b.clock.advance(60_000);
    expect(states()).toEqual(["connecting", "live", "reconnecting", "live"]);
  });

  it("resumes a new EventSource after the last event seen", () => {
    const { b } = owner();
    b.sources[0]!.open();
    b.sources[0]!.send("report_created", "{}", "17");
    b.sources[0]!.send("report_status_update", "{}", "18");
    b.sources[0]!.fail();
    b.clock.advance(1_000);
    expect(b.sources[1]!.url).toBe(`/v4/sse?user_id=${USER}&lastEventId=18`);
  });

  it("opens a new EventSource, with growing delays, when the browser gives one up", () => {
    const { b, states } = owner();
    b.sources[0]!.open();
    b.sources[0]!.fail();
    expect(b.sources[0]!.closed).toBe(true);
    expect(states().at(-1)).toBe("reconnecting");
    b.clock.advance(999);
    expect(b.sources).toHaveLength(1);
    b.clock.advance(1);
    expect(b.sources).toHaveLength(2);
    b.sources[1]!.fail();
    b.clock.advance(1_999);
    expect(b.sources).toHaveLength(2);
    b.clock.advance(1);
    expect(b.sources).toHaveLength(3);
    b.sources[2]!.fail();
    b.clock.advance(4_000);
    b.sources[3]!.fail();
    b.clock.advance(4_000); // capped at retryMaxMs
    expect(b.sources).toHaveLength(5);
    b.sources[4]!.open();
    expect(states().at(-1)).toBe("live");
    b.sources[4]!.fail();
    b.clock.advance(1_000); // the delay starts over after a successful open
    expect(b.sources).toHaveLength(6);
  });

  it("ignores a replaced EventSource and stops cleanly", () => {
    const { b, messages, stream } = owner();
    const first = b.sources[0]!;
    first.fail();
    b.clock.advance(1_000);
    const count = messages.length;
    first.send("report_created", "{}", "1");
    expect(messages).toHaveLength(count);
    stream.stop();
    expect(b.live()).toHaveLength(0);
    b.sources[1]!.send("report_created", "{}", "2");
    expect(messages).toHaveLength(count);
    expect(b.clock.pending).toBe(0);
  });

  it("does not reopen after stop while a retry was waiting", () => {
    const { b, stream } = owner();
    b.sources[0]!.fail();
    stream.stop();
    b.clock.advance(60_000);
    expect(b.sources).toHaveLength(1);
  });
});

// ---- several tabs ----

describe("connectLive", () => {
  it("puts only a decimal event id into the stream URL", () => {
    expect(streamUrl(USER)).toBe(`/v4/sse?user_id=${USER}`);
    expect(streamUrl(USER, "42")).toBe(`/v4/sse?user_id=${USER}&lastEventId=42`);
    expect(streamUrl(USER, "4a2")).toBe(`/v4/sse?user_id=${USER}`);
    expect(streamUrl(USER, "1&x=2")).toBe(`/v4/sse?user_id=${USER}`);
  });

  it("names the lock and the channel after the user", () => {
    expect(leaderLockName(USER)).toBe(`ssehub-sse-leader-${USER}`);
    expect(channelName(USER)).toBe(`ssehub-sse-${USER}`);
  });

  it("streams on its own where Web Locks are missing", () => {
    const b = browser();
    const one = tab(b, { locks: false });
    const two = tab(b, { locks: false });
    expect(one.role()).toBe("solo");
    expect(two.role()).toBe("solo");
    expect(b.live()).toHaveLength(2);
    b.sources[0]!.open();
    expect(one.state()).toBe("live");
    expect(two.state()).toBe("connecting");
    one.stop();
    two.stop();
    expect(b.live()).toHaveLength(0);
  });

  it("streams on its own where BroadcastChannel is missing", () => {
    const b = browser();
    const one = tab(b, { channels: false });
    expect(one.role()).toBe("solo");
    expect(b.live()).toHaveLength(1);
    one.stop();
  });

  it("lets the first tab lead and the others follow over one stream", async () => {
    const b = browser();
    const leader = tab(b);
    await settle();
    const follower = tab(b);
    await settle();
    expect(leader.role()).toBe("leader");
    expect(follower.role()).toBe("follower");
    expect(b.sources).toHaveLength(1);

    b.sources[0]!.open();
    b.sources[0]!.send("report_status_update", '{"id":"r1"}', "41");
    await settle();
    // The leader applies what it relays: BroadcastChannel does not echo to the sender.
    expect(leader.events()).toEqual(['report_status_update#41:{"id":"r1"}']);
    expect(follower.events()).toEqual(['report_status_update#41:{"id":"r1"}']);
    expect(leader.state()).toBe("live");
    expect(follower.state()).toBe("live");
    expect(leader.resyncs()).toBe(1);
    expect(follower.resyncs()).toBe(1);

    b.sources[0]!.drop();
    await settle();
    expect(follower.state()).toBe("reconnecting");
    leader.stop();
    follower.stop();
  });

  it("tells a tab that opens later the current connection state", async () => {
    const b = browser();
    const leader = tab(b);
    await settle();
    b.sources[0]!.open();
    await settle();
    const late = tab(b);
    expect(late.state()).toBe("connecting");
    await settle();
    expect(late.state()).toBe("live");
    leader.stop();
    late.stop();
  });

  it("hands the stream to a waiting tab when the leader goes, and that tab resyncs everyone", async () => {
    const b = browser();
    const first = tab(b);
    await settle();
    const second = tab(b);
    const third = tab(b);
    await settle();
    b.sources[0]!.open();
    await settle();

    first.stop();
    await settle();
    expect(b.sources[0]!.closed).toBe(true);
    expect(second.role()).toBe("leader");
    expect(third.role()).toBe("follower");
    expect(b.live()).toHaveLength(1);
    expect(b.sources[1]!.url).toBe(streamUrl(USER)); // no event seen yet: nothing to resume

    const resyncsBefore = third.resyncs();
    b.sources[1]!.open();
    b.sources[1]!.send("report_created", "{}", "50");
    await settle();
    expect(second.state()).toBe("live");
    expect(third.state()).toBe("live");
    expect(third.resyncs()).toBe(resyncsBefore + 1);
    expect(second.resyncs()).toBeGreaterThanOrEqual(1);
    expect(third.events()).toContain("report_created#50:{}");
    expect(second.events()).toContain("report_created#50:{}");
    // The old leader hears nothing more.
    expect(first.events()).toEqual([]);
    second.stop();
    third.stop();
  });

  it("skips a tab that stopped while it waited for the lock", async () => {
    const b = browser();
    const first = tab(b);
    await settle();
    const second = tab(b);
    const third = tab(b);
    await settle();
    second.stop();
    first.stop();
    await settle();
    expect(second.role()).toBe("follower");
    expect(third.role()).toBe("leader");
    expect(b.live()).toHaveLength(1);
    third.stop();
    expect(b.live()).toHaveLength(0);
  });

  it("keeps one EventSource for eight tabs, through a change of leader", async () => {
    const b = browser();
    const tabs = Array.from({ length: 8 }, () => tab(b));
    await settle();
    expect(b.live()).toHaveLength(1);
    expect(tabs.filter((t) => t.role() === "leader")).toHaveLength(1);
    b.sources[0]!.open();
    b.sources[0]!.send("report_status_update", "{}", "1");
    await settle();
    for (const t of tabs) expect(t.events()).toEqual(["report_status_update#1:{}"]);

    const leaderIndex = tabs.findIndex((t) => t.role() === "leader");
    tabs[leaderIndex]!.stop();
    await settle();
    const rest = tabs.filter((_, i) => i !== leaderIndex);
    expect(b.live()).toHaveLength(1);
    // The new leader resumes after the last event the old one relayed.
    expect(b.live()[0]!.url).toBe(streamUrl(USER, "1"));
    expect(rest.filter((t) => t.role() === "leader")).toHaveLength(1);
    b.live()[0]!.open();
    b.live()[0]!.send("report_status_update", "{}", "2");
    await settle();
    for (const t of rest) expect(t.events()).toEqual(["report_status_update#1:{}", "report_status_update#2:{}"]);
    for (const t of rest) t.stop();
    expect(b.live()).toHaveLength(0);
  });
});
