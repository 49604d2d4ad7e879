/**
 * NodeSession against a real Consul agent: the session's settings, self-fencing when Consul stops
 * answering or says the session is gone, recovery with a new session, retiring the previous
 * daemon's session, and the graceful stop.
 */
import { cleanUpAll } from "../support/clean-up.js";
import { SessionStateFile } from "../../src/files/session-state-file.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { lockHolder } from "../../src/kv/locks.js";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { createLogger } from "../../src/log/logger.js";
import { NodeSession, type ActiveSession } from "../../src/node/node-session.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { until } from "../support/until.js";

const SETTINGS = { ttlSeconds: 10, lockDelaySeconds: 3, fenceDeadlineMs: 2000 };

interface Recorder {
  session: NodeSession;
  sessions: ActiveSession[];
  fences: string[];
  retired: string[];
  /** "session <id>" when a session started its work, "retire <id>" when its locks were released. */
  events: string[];
  /** The state file as it was when each session started its work. */
  stateAtSession: unknown[];
}

describe("NodeSession: session, self-fencing and recovery against a real Consul", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  let dir: string;
  const started: NodeSession[] = [];

  beforeAll(async () => {
    consul = await startConsulHarness("node-session");
    client = new ConsulClient({ address: consul.agent.httpAddress, timeoutMs: 2000 });
    dir = mkdtempSync(join(tmpdir(), "sanpath-node-session-"));
  });

  afterEach(async () => {
    for (const session of started.splice(0)) await session.stop(() => Promise.resolve(), 2000);
  });

  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => consul.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  });

  function start(stateFile: string | undefined): Recorder {
    const recorder: Recorder = {
      sessions: [],
      fences: [],
      retired: [],
      events: [],
      stateAtSession: [],
      session: undefined as unknown as NodeSession,
    };
    recorder.session = new NodeSession({
      sessions: sessionsOf(client),
      nodeName: consul.agent.nodeName,
      settings: SETTINGS,
      ...(stateFile === undefined ? {} : { memory: new SessionStateFile(stateFile, consul.agent.nodeName) }),
      logger: createLogger({ level: "silent" }),
      onFence: (reason) => {
        recorder.fences.push(reason);
        return Promise.resolve();
      },
      onSession: (session) => {
        recorder.sessions.push(session);
        recorder.events.push(`session ${session.id}`);
        if (stateFile !== undefined)
          recorder.stateAtSession.push(JSON.parse(readFileSync(stateFile, "utf8")));
        return Promise.resolve();
      },
      releaseLocksOf: (sessionId) => {
        recorder.retired.push(sessionId);
        recorder.events.push(`retire ${sessionId}`);
        return Promise.resolve(0);
      },
    });
    recorder.session.start();
    started.push(recorder.session);
    return recorder;
  }

  it("creates a session tied to serfHealth with the configured TTL, lock-delay and release behaviour", async () => {
    const { session, sessions } = start(undefined);
    const active = await until("a session", () => sessions[0]);
    expect(session.current()?.id).toBe(active.id);
    expect(session.status()).toMatchObject({ id: active.id, phase: "active", healthy: true, fenced: false });
    const info = await sessionsOf(client).info(active.id);
    expect(info).toMatchObject({
      behavior: "release",
      ttl: "10s",
      lockDelayMs: 3000,
      node: consul.agent.nodeName,
    });
    expect(info?.checks).toContain("serfHealth");
    // Renewed well within the fence deadline.
    await sleep(1500);
    expect(session.status().healthy).toBe(true);
    expect(Date.now() - (session.status().lastConfirmedAt?.getTime() ?? 0)).toBeLessThan(
      SETTINGS.fenceDeadlineMs,
    );
  });

  it("fences when Consul stops answering, then recovers with a new session once it is back", async () => {
    const recorder = start(undefined);
    const first = await until("a session", () => recorder.sessions[0]);
    await consul.agent.stop();
    const reason = await until("the fence", () => recorder.fences[0]);
    expect(reason).toContain(`not confirmed within ${SETTINGS.fenceDeadlineMs} ms`);
    expect(first.signal.aborted).toBe(true);
    expect(recorder.session.current()).toBeUndefined();
    expect(recorder.session.status()).toMatchObject({
      phase: "fenced",
      fenced: true,
      healthy: false,
      fences: 1,
    });

    await consul.restart();
    const second = await until("a new session", () => recorder.sessions[1]);
    expect(second.id).not.toBe(first.id);
    // The old session is retired (its locks released, the session destroyed) once the new one is
    // announced, so the coordinator never sees this node's paths free while the node looks dead.
    await until("the old session retired", () => (recorder.retired.length > 0 ? true : undefined));
    expect(new Set(recorder.retired)).toEqual(new Set([first.id]));
    expect(recorder.events.indexOf(`session ${second.id}`)).toBeLessThan(
      recorder.events.indexOf(`retire ${first.id}`),
    );
    expect(recorder.session.current()?.id).toBe(second.id);
    expect(recorder.session.status()).toMatchObject({ phase: "active", fenced: false, fences: 1 });
  });

  it("fences at once when Consul says the session is gone", async () => {
    const recorder = start(undefined);
    const first = await until("a session", () => recorder.sessions[0]);
    await sessionsOf(client).destroy(first.id);
    const reason = await until("the fence", () => recorder.fences[0], SETTINGS.fenceDeadlineMs * 3);
    expect(reason).toMatch(/no longer exists|not confirmed/);
    const second = await until("a new session", () => recorder.sessions[1]);
    expect(second.id).not.toBe(first.id);
  });

  it("a restarted daemon retires the session its predecessor left (state file)", async () => {
    const stateFile = join(dir, "node-session.json");
    // What a killed predecessor leaves: its session (alive until its TTL runs out), a lock it holds,
    // and the session id in the state file.
    const old = await sessionsOf(client).create({ name: "killed", ttlSeconds: 10, lockDelaySeconds: 3 });
    writeFileSync(stateFile, JSON.stringify({ sessionId: old, node: consul.agent.nodeName }));
    const key = `SanpathTest-${process.pid}/Disks/00001/1`;
    expect(await kvOf(client).acquire(key, old, "node")).toBe(true);

    const next = start(stateFile);
    const fresh = await until("a new session", () => next.sessions[0]);
    // While the new session announces itself, the state file still names the old one to retire:
    // a crash at that moment leaves nothing behind.
    expect(next.stateAtSession[0]).toMatchObject({ sessionId: fresh.id, retiring: [old] });
    await until("the old session retired", () => (next.retired.length > 0 ? true : undefined));
    expect(next.retired).toEqual([old]);
    expect(next.events).toEqual([`session ${fresh.id}`, `retire ${old}`]);
    expect(fresh.id).not.toBe(old);
    expect(await sessionsOf(client).info(old)).toBeUndefined();
    await until("the state file rewritten", () => {
      const state = JSON.parse(readFileSync(stateFile, "utf8")) as { retiring?: unknown };
      return state.retiring === undefined ? state : undefined;
    });
    expect(JSON.parse(readFileSync(stateFile, "utf8"))).toEqual({
      sessionId: fresh.id,
      node: consul.agent.nodeName,
    });
    // Released: the old session's lock is free.
    expect((await client.get(key))?.session).toBeUndefined();
    await client.delete(key);
  });

  it("a graceful stop runs the tear-down, then releases the locks and destroys the session", async () => {
    const stateFile = join(dir, "stop-session.json");
    const recorder = start(stateFile);
    const active = await until("a session", () => recorder.sessions[0]);
    const key = `SanpathTest-${process.pid}/Disks/00002/1`;
    expect(await kvOf(client).acquire(key, active.id, "node")).toBe(true);
    const order: string[] = [];
    started.splice(started.indexOf(recorder.session), 1);
    await recorder.session.stop(async () => {
      // The session may not be used any more, but it still exists (and holds the lock) meanwhile.
      order.push(`aborted ${String(active.signal.aborted)}`);
      order.push(`exists ${String((await sessionsOf(client).info(active.id)) !== undefined)}`);
    });
    expect(order).toEqual(["aborted true", "exists true"]);
    expect(recorder.retired).toEqual([active.id]);
    expect(await sessionsOf(client).info(active.id)).toBeUndefined();
    expect(existsSync(stateFile)).toBe(false);
    expect(recorder.session.current()).toBeUndefined();
    // Destroying the session released its lock (the recorder's releaseLocksOf releases nothing).
    expect(await lockHolder(kvOf(client), key)).toBeUndefined();
    await client.delete(key);
  });
});
