import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";

describe("consul dev agent harness", () => {
  let consul: ConsulHarness;
  beforeAll(async () => {
    consul = await startConsulHarness("devagent");
  });
  afterAll(async () => {
    await consul.stop();
  });

  it("serves KV and stops by pid", async () => {
    const base = `http://${consul.agent.httpAddress}`;
    const put = await fetch(`${base}/v1/kv/probe`, { method: "PUT", body: "hello" });
    expect((await put.text()).trim()).toBe("true");
    const get = await fetch(`${base}/v1/kv/probe?raw`);
    expect(await get.text()).toBe("hello");
    const pid = consul.agent.pid;
    await consul.agent.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await consul.restart();
    const after = await fetch(`${base}/v1/kv/probe?raw`);
    expect(after.status).toBe(404);
  });
});
