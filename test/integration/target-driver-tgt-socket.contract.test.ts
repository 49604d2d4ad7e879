/**
 * The TargetDriver contract against TgtDriver speaking to tgtd over its control socket (no process
 * per request), over a real tgtd in a network namespace (target-driver-tgt-fixture.ts).
 */
import { registerTgtDriverContract } from "./target-driver-tgt-fixture.js";

registerTgtDriverContract("socket");
