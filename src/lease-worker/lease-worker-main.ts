/**
 * The lease worker thread (lease-worker.ts starts it): this node's peer lease, renewed and granted
 * on an event loop of its own. It runs a PeerLeaseKeeper whose renews go to the peers' lease
 * listeners, answers the peers' renews on its own listener (lease-listener.ts), stores each new
 * fenceAt in shared memory and in the crash guard's lease file, and sends the main thread a
 * snapshot of its proof material after each change.
 *
 * A main thread that says nothing for mainSilenceLimitMs is taken for wedged: the worker stops
 * renewing (and granting), so the lease ends and the node fences as if the whole process had
 * stopped; a lease must not outlive the thread that would tear the paths down.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { GrpcNodeRpc } from "../api/grpc-node-rpc.js";
import { LeaseFileWriter } from "../crash-guard/lease-file.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { createLogger } from "../log/logger.js";
import { nodeClientAuth } from "../security/daemon-security.js";
import { monotonicNowMs } from "../util/monotonic-clock.js";
import { startLeaseListener, type LeaseListener } from "./lease-listener.js";
import type { FromLeaseWorker, LeaseWorkerData, ToLeaseWorker } from "./lease-worker-messages.js";
import { SharedInstant } from "./lease-worker-messages.js";
import { PeerLeaseKeeper, type LeaseMembers } from "../node/peer-lease-keeper.js";

if (parentPort === null)
  throw new Error("lease-worker-main.js runs only as a worker thread (lease-worker.ts)");
const port: MessagePort = parentPort;
const data = workerData as LeaseWorkerData;
const logger = createLogger({
  level: data.logLevel,
  base: { name: "sanpathd", node: data.self, component: "lease-worker" },
});
const send = (message: FromLeaseWorker): void => port.postMessage(message);

async function run(): Promise<void> {
  const now = (): number => monotonicNowMs() - data.clockOffsetMs;
  const fenceAt = new SharedInstant(data.fenceAt);
  let members: LeaseMembers = { peers: [], size: undefined };
  let lastAlive = now();
  const rpc = new GrpcNodeRpc(data.timing.heartbeatMs, await nodeClientAuth(data.config));
  const keeper = new PeerLeaseKeeper({
    self: data.self,
    timing: data.timing,
    rpc,
    members: () => members,
    logger,
    now,
  });
  const leaseFile = data.leaseFile === undefined ? undefined : await LeaseFileWriter.open(data.leaseFile);
  let snapshotQueued = false;
  const queueSnapshot = (): void => {
    if (snapshotQueued) return;
    snapshotQueued = true;
    setImmediate(() => {
      snapshotQueued = false;
      send({ kind: "snapshot", snapshot: keeper.snapshot(), status: keeper.status() });
    });
  };
  keeper.onActivity(queueSnapshot);
  // The lease end moves with each grant, and with the cluster's size (a cluster of one holds its
  // lease for good, without a renew): published after both.
  let published: number | undefined;
  const publish = (): void => {
    const at = keeper.fenceAt();
    if (at === published) return;
    published = at;
    fenceAt.store(at);
    if (at !== undefined && Number.isFinite(at)) leaseFile?.write(at + data.clockOffsetMs);
    // The main thread reads the new end from shared memory; the snapshot tells it to look.
    queueSnapshot();
  };
  keeper.onChange(publish);
  let listener: LeaseListener;
  try {
    listener = await startLeaseListener({
      listen: data.listen,
      config: data.config,
      logger,
      answer: (renewal) => keeper.answerRenew(renewal.node, renewal.holdMs ?? 0),
    });
  } catch (error) {
    rpc.close();
    await leaseFile?.close();
    throw error;
  }
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(watchdog);
    keeper.stop();
    rpc.close();
    await listener.close();
    await leaseFile?.close();
  };
  let lastTick = now();
  const watchdog = setInterval(() => {
    const tick = now();
    // This thread was held up as well (the whole process stopped, SIGSTOP): the main thread gets
    // its time again from here, since its messages could not have been read meanwhile.
    if (tick - lastTick > 2 * data.timing.heartbeatMs) lastAlive = Math.max(lastAlive, tick);
    lastTick = tick;
    const silentMs = tick - lastAlive;
    if (silentMs < data.mainSilenceLimitMs || stopped) return;
    const reason = `the main thread said nothing for ${Math.round(silentMs)} ms: renewing stopped, the lease ends`;
    logger.error({ silentMs: Math.round(silentMs) }, reason);
    send({ kind: "gave-up", reason });
    void stop();
  }, data.timing.heartbeatMs);
  port.on("message", (message: ToLeaseWorker) => {
    switch (message.kind) {
      case "alive": {
        lastAlive = now();
        members = message.members;
        // Reads the members through the keeper, which renews at once with a peer they newly name.
        publish();
        return;
      }
      case "answer":
        void keeper.answerRenew(message.node, message.holdMs).then((grant) =>
          send({
            kind: "answered",
            id: message.id,
            grant: { node: grant.node, granted: grant.granted, silences: [...grant.silences] },
          }),
        );
        return;
      case "hold":
        void keeper.holdForHandover(message.holdMs).then(() => send({ kind: "done", id: message.id }));
        return;
      case "stop":
        void stop().then(() => send({ kind: "done", id: message.id }));
        return;
    }
  });
  keeper.start();
  send({ kind: "listening", port: listener.port });
}

run().catch((error: unknown) => {
  logger.error({ err: errorMessage(error) }, "lease worker failed to start");
  send({ kind: "failed", message: errorMessage(error) });
});
