import { describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import type { EventInput, RecordedEvent } from "../../src/events/event-log.js";
import { followEvents, listEvents } from "../../src/events/event-reader.js";
import { MAX_SEGMENT_EVENTS, parseSegmentName } from "../../src/events/event-segment.js";
import { KvEventLog, listSegments, segmentsBeyond } from "../../src/events/kv-event-log.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import { createLogger } from "../../src/log/logger.js";
import { InMemoryConsul } from "../../src/testing/in-memory-consul.js";
import { InMemoryKvStore } from "../../src/testing/in-memory-kv-store.js";

const keys = new ConsulKeys("EventsTest");
const logger = createLogger({ level: "silent" });
const HOUR = 3600_000;

function store(): { consul: InMemoryConsul; kv: InMemoryKvStore } {
  const consul = new InMemoryConsul();
  return { consul, kv: new InMemoryKvStore(consul) };
}

function writer(
  kv: KvStore,
  nodeName: string,
  extra: Partial<ConstructorParameters<typeof KvEventLog>[0]> = {},
) {
  return new KvEventLog({ kv, keys, nodeName, logger, lingerMs: 5, ...extra });
}

async function all(kv: KvStore, filter = {}, pageSize = 1000): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let pageToken = "";
  for (let page = 0; page < 1000; page++) {
    const answer = await listEvents(kv, keys, filter, { pageSize, pageToken });
    events.push(...answer.events);
    if (answer.nextPageToken === "") return events;
    pageToken = answer.nextPageToken;
  }
  throw new Error("no end of pages");
}

const BASE = Date.now() - 10 * HOUR;
const at = (ms: number): Date => new Date(BASE + ms);

describe("event history in Consul (KvEventLog, listEvents)", () => {
  it("4,000 events at once are a few writes of up to MAX_SEGMENT_EVENTS events, none lost, oldest first", async () => {
    const { kv } = store();
    let transactions = 0;
    const counting: KvStore = Object.assign(Object.create(kv) as KvStore, {
      transaction: (...args: Parameters<KvStore["transaction"]>) => {
        transactions++;
        return kv.transaction(...args);
      },
    });
    const log = writer(counting, "node-a");
    for (let i = 0; i < 4000; i++) {
      log.record({
        kind: "failover",
        time: at(i),
        diskId: String(i % 100).padStart(5, "0"),
        pathIndex: 1,
        to: "node-a",
      });
    }
    await log.flushed();
    expect(transactions).toBeLessThanOrEqual(Math.ceil(4000 / MAX_SEGMENT_EVENTS) + 1);
    const events = await all(kv, {}, 333);
    expect(events).toHaveLength(4000);
    expect(events.map((event) => event.time.getTime())).toEqual(
      [...Array(4000).keys()].map((i) => at(i).getTime()),
    );
    expect(new Set(events.map((event) => event.id)).size).toBe(4000);
    expect(events[0]?.recordedBy).toBe("node-a");
    await log.close();
  });

  it("two nodes writing at once never lose an event, and their events interleave in time order", async () => {
    const { kv } = store();
    const a = writer(kv, "node-a", { lingerMs: 0 });
    const b = writer(kv, "node-b", { lingerMs: 0 });
    for (let i = 0; i < 500; i++) {
      a.record({ kind: "fence", node: "node-a", time: at(2 * i), reason: `a${i}` });
      b.record({ kind: "degraded", node: "node-b", time: at(2 * i + 1), reason: `b${i}` });
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([a.flushed(), b.flushed()]);
    const events = await all(kv, {}, 97);
    expect(events).toHaveLength(1000);
    expect(events.map((event) => event.reason)).toEqual(
      [...Array(500).keys()].flatMap((i) => [`a${i}`, `b${i}`]),
    );
    expect(new Set(events.map((event) => event.recordedBy))).toEqual(new Set(["node-a", "node-b"]));
  });

  it("a restarted process of the same node never overwrites a segment (same millisecond, same sequence)", async () => {
    const { kv } = store();
    const time = at(0);
    const first = writer(kv, "node-a", { now: () => time });
    first.record({ kind: "cordon", node: "x", actor: "first" });
    await first.close();
    const second = writer(kv, "node-a", { now: () => time });
    second.record({ kind: "uncordon", node: "x", actor: "second" });
    await second.close();
    expect((await all(kv)).map((event) => event.actor)).toEqual(["first", "second"]);
  });

  it("a write Consul does not answer is retried: the events arrive once it is back", async () => {
    const { consul, kv } = store();
    consul.faults.failNext("txn", { times: 3 });
    const log = writer(kv, "node-a");
    log.record({
      kind: "move",
      diskId: "00001",
      pathIndex: 2,
      from: "a",
      to: "b",
      durationMs: 1234.4,
      result: "succeeded",
      jobId: "j1",
      actor: "ops",
    });
    await log.flushed();
    const [event] = await all(kv);
    expect(event).toMatchObject({
      kind: "move",
      diskId: "00001",
      pathIndex: 2,
      from: "a",
      to: "b",
      durationMs: 1234,
      result: "succeeded",
      jobId: "j1",
      actor: "ops",
    });
  });

  it("record never throws and never waits, even with Consul down; too many waiting drop the oldest", async () => {
    const { consul, kv } = store();
    consul.faults.setUnreachable(true);
    const counts = { written: 0, overflow: 0, stop: 0 };
    const log = writer(kv, "node-a", {
      maxBuffered: 10,
      observer: {
        written: (count) => (counts.written += count),
        dropped: (reason, count) => (counts[reason] += count),
      },
    });
    for (let i = 0; i < 25; i++) expect(log.record({ kind: "fence", reason: String(i) })).toBeUndefined();
    expect(log.queued).toBe(10);
    expect(counts).toEqual({ written: 0, overflow: 15, stop: 0 });
    consul.faults.setUnreachable(false);
    await log.flushed();
    const reasons = (await all(kv)).map((event) => event.reason);
    expect(reasons).toEqual([...Array(10).keys()].map((i) => String(15 + i)));
    // Every event is either written or counted as dropped.
    expect(counts).toEqual({ written: 10, overflow: 15, stop: 0 });
    expect(log.queued).toBe(0);
    consul.faults.setUnreachable(true);
    log.record({ kind: "fence", reason: "at stop" });
    await log.close(50);
    expect(counts.stop).toBe(1);
  });

  it("filters: node (node, from or to), disk, kinds, since and until", async () => {
    const { kv } = store();
    const log = writer(kv, "n1");
    const inputs: EventInput[] = [
      { kind: "failover", time: at(1000), diskId: "00001", pathIndex: 1, from: "n1", to: "n2", node: "n2" },
      { kind: "move", time: at(2000), diskId: "00002", pathIndex: 1, from: "n2", to: "n3", node: "n3" },
      { kind: "fence", time: at(3000), node: "n1" },
      { kind: "cordon", time: at(4000), node: "n3", actor: "alice" },
    ];
    for (const input of inputs) log.record(input);
    await log.flushed();
    const kinds = async (filter: Parameters<typeof all>[1]) =>
      (await all(kv, filter)).map((event) => event.kind);
    expect(await kinds({ node: "n1" })).toEqual(["failover", "fence"]);
    expect(await kinds({ node: "n3" })).toEqual(["move", "cordon"]);
    expect(await kinds({ diskId: "00002" })).toEqual(["move"]);
    expect(await kinds({ kinds: ["fence", "cordon"] })).toEqual(["fence", "cordon"]);
    expect(await kinds({ since: at(2000), until: at(3000) })).toEqual(["move", "fence"]);
    expect(await kinds({ node: "n2", since: at(1500) })).toEqual(["move"]);
  });

  it("pages hold page_size events and the token continues after the last, with events of equal time", async () => {
    const { kv } = store();
    const log = writer(kv, "n1");
    for (let i = 0; i < 25; i++)
      log.record({ kind: "placement", time: at(Math.floor(i / 5)), reason: String(i) });
    await log.flushed();
    const first = await listEvents(kv, keys, {}, { pageSize: 10 });
    expect(first.events).toHaveLength(10);
    const rest = await all(kv, {}, 10);
    expect(rest.map((event) => event.reason)).toEqual([...Array(25).keys()].map(String));
    await expect(listEvents(kv, keys, {}, { pageSize: 10, pageToken: "garbage" })).rejects.toMatchObject({
      kind: "invalid_argument",
    });
  });

  it("retention by count deletes whole oldest segments, keeping at least maxEvents", async () => {
    const { kv } = store();
    const log = writer(kv, "n1", { retention: { maxEvents: 50, maxAgeMs: 1000 * HOUR }, compactEveryMs: 0 });
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20; i++)
        log.record({ kind: "placement", time: at(round * 100 + i), reason: `${round}.${i}` });
      await log.flushed();
    }
    expect(await log.compact()).toBe(7);
    const events = await all(kv);
    expect(events).toHaveLength(60);
    expect(events[0]?.reason).toBe("7.0");
    expect(await log.compact()).toBe(0);
  });

  it("retention by age deletes segments older than maxAgeMs; older events are not served before", async () => {
    const { kv } = store();
    const log = writer(kv, "n1", { retention: { maxEvents: 1000, maxAgeMs: 2 * HOUR }, compactEveryMs: 0 });
    log.record({ kind: "fence", time: new Date(Date.now() - 3 * HOUR), reason: "old" });
    await log.flushed();
    log.record({ kind: "fence", time: new Date(Date.now() - HOUR), reason: "new" });
    await log.flushed();
    const served = await listEvents(kv, keys, {}, { pageSize: 10, maxAgeMs: 2 * HOUR });
    expect(served.events.map((event) => event.reason)).toEqual(["new"]);
    expect(await log.compact()).toBe(1);
    expect((await listSegments(kv, keys)).map((segment) => segment.count)).toEqual([1]);
  });

  it("segmentsBeyond never deletes a newer segment for the count while an older one stays", () => {
    const segments = [
      { firstMs: 1, lastMs: 2, count: 40 },
      { firstMs: 3, lastMs: 4, count: 5 },
      { firstMs: 5, lastMs: 6, count: 40 },
    ].map((s, i) => ({ ...s, name: `s${i}`, node: "n", seq: i }));
    expect(segmentsBeyond(segments, { maxEvents: 45, maxAgeMs: 1e9 }, 10).map((s) => s.name)).toEqual(["s0"]);
    expect(segmentsBeyond(segments, { maxEvents: 10, maxAgeMs: 1e9 }, 10).map((s) => s.name)).toEqual([
      "s0",
      "s1",
    ]);
    expect(segmentsBeyond(segments, { maxEvents: 1000, maxAgeMs: 5 }, 10).map((s) => s.name)).toEqual([
      "s0",
      "s1",
    ]);
    expect(parseSegmentName("0000000000001_0000000000002_node-a.x_7_3")).toMatchObject({
      node: "node-a.x",
      seq: 7,
      count: 3,
    });
  });

  it("followEvents sends the backlog from since, then new events of both nodes as they are written", async () => {
    const { kv } = store();
    const a = writer(kv, "node-a");
    const b = writer(kv, "node-b");
    a.record({ kind: "fence", node: "node-a", time: at(0), reason: "before since" });
    a.record({ kind: "fence", node: "node-a", time: at(10), reason: "backlog" });
    await a.flushed();
    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const event of followEvents(
        kv,
        keys,
        { since: at(5), kinds: ["fence", "cordon"] },
        { signal: stop.signal },
      )) {
        seen.push(event.reason ?? event.actor ?? "");
        if (seen.length === 3) stop.abort();
      }
    })();
    await until(() => seen.length === 1);
    b.record({ kind: "degraded", node: "node-b", reason: "filtered out" });
    b.record({ kind: "cordon", node: "node-b", actor: "live-b" });
    await b.flushed();
    a.record({ kind: "fence", node: "node-a", reason: "live-a" });
    await following;
    expect(seen).toEqual(["backlog", "live-b", "live-a"]);
  });

  it("followEvents ends when its signal aborts while waiting", async () => {
    const { kv } = store();
    const stop = new AbortController();
    const following = (async () => {
      for await (const _event of followEvents(kv, keys, {}, { signal: stop.signal }))
        throw new Error("no events");
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    await following;
  });
});

async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !test(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!test()) throw new Error("timed out");
}
