/** libuvPoolSize: the pool size libuv will use for an environment (its own rules), and the advice. */
import { describe, expect, it } from "vitest";
import { libuvPoolSize, RECOMMENDED_POOL_SIZE } from "../../src/server/libuv-pool.js";

describe("libuvPoolSize", () => {
  it("unset, zero or not a number: libuv's 4, below the advice", () => {
    for (const value of [undefined, "0", "-3", "many"]) {
      expect(libuvPoolSize({ UV_THREADPOOL_SIZE: value })).toEqual({ threads: 4, belowAdvice: true });
    }
  });

  it("the advised size or more is not below it; libuv caps at 1024", () => {
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: String(RECOMMENDED_POOL_SIZE) })).toEqual({
      threads: RECOMMENDED_POOL_SIZE,
      belowAdvice: false,
    });
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: "5000" })).toEqual({ threads: 1024, belowAdvice: false });
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: "8" })).toEqual({ threads: 8, belowAdvice: true });
  });
});
