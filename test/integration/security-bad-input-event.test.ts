/**
 * The bad-input corpus of EventService against a real sanpathd with auth on: the cases are in
 * security-bad-input-event-cases.ts, the daemon and the check in security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { EVENT_CASES } from "./security-bad-input-event-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: EventService", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(EVENT_CASES);
  });
});
