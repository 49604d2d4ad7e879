import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status as Status,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { connect } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ActiveCalls } from "../../src/api/active-calls.js";
import { serverStream, unary, type CallContext } from "../../src/api/call-handlers.js";
import { REASON_METADATA_KEY } from "../../src/api/grpc-status.js";
import { ServiceRegistry } from "../../src/api/service-registry.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  AssignmentServiceClient,
  AssignmentServiceService,
  JobState,
  WatchReassignmentRequest,
  type WatchReassignmentResponse,
} from "../../src/gen/sanpath/v1/assignment.js";
import {
  ClusterServiceClient,
  ClusterServiceService,
  GetClusterInfoResponse,
  type GetClusterInfoRequest,
} from "../../src/gen/sanpath/v1/cluster.js";
import { createLogger } from "../../src/log/logger.js";
import { untilTrue } from "../support/until.js";

/** How long a test waits for something the in-process server does next: 200 polls 10 ms apart. */
const SOON = { timeoutMs: 2000, intervalMs: 10 };

const logger = createLogger({ level: "silent" });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(register: (server: Server) => void): Promise<string> {
  const server = new Server();
  register(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    );
  });
  cleanups.push(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

function clusterClient(address: string): ClusterServiceClient {
  const client = new ClusterServiceClient(address, credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

function assignmentClient(address: string): AssignmentServiceClient {
  const client = new AssignmentServiceClient(address, credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

function getInfo(
  client: ClusterServiceClient,
  deadline?: Date,
): Promise<{ error: ServiceError | null; response?: GetClusterInfoResponse }> {
  return new Promise((resolve) => {
    client.getClusterInfo({}, new Metadata(), deadline === undefined ? {} : { deadline }, (error, response) =>
      resolve({ error, response }),
    );
  });
}

/** Reads a stream to its end: the messages and the final status code. */
function drain(stream: ClientReadableStream<WatchReassignmentResponse>): Promise<{
  messages: WatchReassignmentResponse[];
  code: Status;
  details: string;
  metadata: Metadata | undefined;
}> {
  const messages: WatchReassignmentResponse[] = [];
  stream.on("data", (message: WatchReassignmentResponse) => messages.push(message));
  return new Promise((resolve) => {
    stream.on("error", (error: ServiceError) =>
      resolve({ messages, code: error.code, details: error.details, metadata: error.metadata }),
    );
    stream.on("status", (status: { code: Status; details: string }) => {
      if (status.code === Status.OK)
        resolve({ messages, code: Status.OK, details: status.details, metadata: undefined });
    });
  });
}

function event(sequence: number, jobId = "job"): WatchReassignmentResponse {
  return {
    sequence,
    jobId,
    time: undefined,
    path: undefined,
    totals: undefined,
    finished: undefined,
    state: JobState.JOB_STATE_UNSPECIFIED,
  };
}

describe("unary()", () => {
  it("answers with the handler's response and gives it metadata, peer, method and deadline", async () => {
    let seen: CallContext | undefined;
    const address = await startServer((server) =>
      server.addService(ClusterServiceService, {
        getClusterInfo: unary<GetClusterInfoRequest, GetClusterInfoResponse>((_request, context) => {
          seen = context;
          return Promise.resolve(GetClusterInfoResponse.create({ consulRoot: "PetaSAN", diskCount: 3 }));
        }),
      }),
    );
    const deadline = new Date(Date.now() + 30_000);
    const { error, response } = await getInfo(clusterClient(address), deadline);
    expect(error).toBeNull();
    expect(response).toMatchObject({ consulRoot: "PetaSAN", diskCount: 3 });
    expect(seen?.method).toBe("/sanpath.v1.ClusterService/GetClusterInfo");
    expect(seen?.peer).toMatch(/127\.0\.0\.1:\d+/);
    expect(seen?.metadata).toBeInstanceOf(Metadata);
    expect(Math.abs((seen?.deadline?.getTime() ?? 0) - deadline.getTime())).toBeLessThan(1000);
    expect(seen?.signal.aborted).toBe(false);
  });

  it("sends a SanpathError as its code with reason and field, and hides unknown errors", async () => {
    let fail: Error = new SanpathError("invalid_argument", "node: must be set", {
      reason: "DATA_MISSING",
      field: "node",
    });
    const address = await startServer((server) =>
      server.addService(ClusterServiceService, {
        getClusterInfo: unary(() => Promise.reject(fail), { logger }),
      }),
    );
    const client = clusterClient(address);
    const domain = await getInfo(client);
    expect(domain.error?.code).toBe(Status.INVALID_ARGUMENT);
    expect(domain.error?.details).toBe("node: must be set");
    expect(domain.error?.metadata.get("sanpath-reason")).toEqual(["DATA_MISSING"]);
    expect(domain.error?.metadata.get("sanpath-field")).toEqual(["node"]);

    fail = new Error("token=s3cr3t leaked in a message");
    const unknown = await getInfo(client);
    expect(unknown.error?.code).toBe(Status.INTERNAL);
    expect(unknown.error?.details).toMatch(/^internal error \(error id [0-9a-f]{8}/);
    expect(unknown.error?.details).not.toContain("s3cr3t");
  });

  it("aborts the handler's signal when the deadline passes", async () => {
    let reason: unknown;
    const address = await startServer((server) =>
      server.addService(ClusterServiceService, {
        getClusterInfo: unary(async (_request, { signal }) => {
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
          reason = signal.reason;
          return GetClusterInfoResponse.create({});
        }),
      }),
    );
    const { error } = await getInfo(clusterClient(address), new Date(Date.now() + 200));
    expect(error?.code).toBe(Status.DEADLINE_EXCEEDED);
    await untilTrue("the handler to see the abort", () => reason !== undefined, SOON);
    expect(reason).toBeInstanceOf(SanpathError);
    expect((reason as SanpathError).kind).toMatch(/deadline_exceeded|cancelled/);
  });

  it("aborts the handler's signal when the client cancels, and registers the call meanwhile", async () => {
    const calls = new ActiveCalls();
    let reason: unknown;
    const address = await startServer((server) =>
      server.addService(ClusterServiceService, {
        getClusterInfo: unary(
          async (_request, { signal }) => {
            await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
            reason = signal.reason;
            return GetClusterInfoResponse.create({});
          },
          { calls },
        ),
      }),
    );
    const client = clusterClient(address);
    const call = client.getClusterInfo({}, () => undefined);
    await untilTrue("the call to be registered", () => calls.count("unary") === 1, SOON);
    call.cancel();
    await untilTrue("the handler to see the cancel", () => reason !== undefined, SOON);
    expect((reason as SanpathError).kind).toBe("cancelled");
    await untilTrue("the call to be forgotten", () => calls.count() === 0, SOON);
  });
});

describe("serverStream()", () => {
  function watchServer(
    handler: (
      request: WatchReassignmentRequest,
      context: CallContext,
    ) => AsyncIterable<WatchReassignmentResponse>,
    calls?: ActiveCalls,
  ): Promise<string> {
    return startServer((server) =>
      server.addService(AssignmentServiceService, {
        watchReassignment: serverStream(handler, { calls, logger }),
      }),
    );
  }

  it("sends what the iterable yields, in order, then OK", async () => {
    const address = await watchServer(async function* (request) {
      await sleep(1); // handlers await their data source
      for (let sequence = request.afterSequence + 1; sequence <= request.afterSequence + 5; sequence++) {
        yield event(sequence, request.id);
      }
    });
    const result = await drain(
      assignmentClient(address).watchReassignment({ id: "j1", afterSequence: 10, stopWhenDone: true }),
    );
    expect(result.code).toBe(Status.OK);
    expect(result.messages.map((m) => m.sequence)).toEqual([11, 12, 13, 14, 15]);
    expect(result.messages.every((m) => m.jobId === "j1")).toBe(true);
  });

  it("ends with the mapped status after the messages sent before a failure", async () => {
    const address = await watchServer(async function* () {
      await sleep(1); // handlers await their data source
      yield event(1);
      yield event(2);
      throw new SanpathError("not_found", "job j9 not found", { reason: "JOB_NOT_FOUND" });
    });
    const result = await drain(
      assignmentClient(address).watchReassignment({ id: "j9", afterSequence: 0, stopWhenDone: true }),
    );
    expect(result.messages.map((m) => m.sequence)).toEqual([1, 2]);
    expect(result.code).toBe(Status.NOT_FOUND);
    expect(result.details).toBe("job j9 not found");
    expect(result.metadata?.get(REASON_METADATA_KEY)).toEqual(["JOB_NOT_FOUND"]);
  });

  it("ends the call at once on cancel even when the generator ignores the signal", async () => {
    let finished = false;
    let started = false;
    const address = await watchServer(async function* () {
      try {
        yield event(1);
        started = true;
        await new Promise(() => undefined); // waits forever, ignoring the signal
      } finally {
        finished = true;
      }
    });
    const stream = assignmentClient(address).watchReassignment({
      id: "",
      afterSequence: 0,
      stopWhenDone: false,
    });
    const result = drain(stream);
    await untilTrue("the first message", () => started, SOON);
    stream.cancel();
    expect((await result).code).toBe(Status.CANCELLED);
    // The generator is suspended in an await it never leaves, so return() cannot run its finally;
    // what matters is that the call is over and forgotten.
    expect(finished).toBe(false);
  });

  it("runs the generator's finally on cancel when it waits on the signal", async () => {
    let finished = false;
    let started = false;
    const address = await watchServer(async function* (_request, { signal }) {
      try {
        yield event(1);
        started = true;
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      } finally {
        finished = true;
      }
    });
    const stream = assignmentClient(address).watchReassignment({
      id: "",
      afterSequence: 0,
      stopWhenDone: false,
    });
    const result = drain(stream);
    await untilTrue("the first message", () => started, SOON);
    stream.cancel();
    expect((await result).code).toBe(Status.CANCELLED);
    await untilTrue("the generator's finally", () => finished, SOON);
  });

  it("waits for the client to read (backpressure) instead of buffering everything", async () => {
    const total = 400;
    const big = "x".repeat(64 * 1024);
    let produced = 0;
    const address = await watchServer(async function* () {
      await sleep(1); // handlers await their data source
      for (let sequence = 1; sequence <= total; sequence++) {
        produced++;
        yield { ...event(sequence), jobId: big };
      }
    });
    // The grpc-js client keeps reading while paused; a bare HTTP/2 stream stops granting flow-control window.
    const session = connect(`http://${address}`);
    cleanups.push(() => {
      session.close();
    });
    const body = Buffer.from(
      WatchReassignmentRequest.encode({ id: "", afterSequence: 0, stopWhenDone: true }).finish(),
    );
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const request = session.request({
      ":method": "POST",
      ":path": "/sanpath.v1.AssignmentService/WatchReassignment",
      "content-type": "application/grpc",
      te: "trailers",
    });
    request.end(frame);
    request.pause();
    // Wait until production stalls: it must stall well before the end while nobody reads.
    let last = -1;
    for (let stable = 0; stable < 10;) {
      await sleep(30);
      if (produced === last) stable++;
      else stable = 0;
      last = produced;
    }
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(total / 4);
    let received = 0;
    request.on("data", (chunk: Buffer) => (received += chunk.length));
    const trailers = new Promise<Record<string, unknown>>((resolve) => request.once("trailers", resolve));
    request.resume();
    await new Promise((resolve) => request.once("end", resolve));
    expect((await trailers)["grpc-status"]).toBe("0");
    expect(produced).toBe(total);
    expect(received).toBeGreaterThan(total * big.length);
  });

  it("ends open streams with UNAVAILABLE when the registry ends streams, and at once after that", async () => {
    const calls = new ActiveCalls();
    let finished = false;
    const address = await watchServer(async function* (_request, { signal }) {
      try {
        yield event(1);
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        yield event(2);
      } finally {
        finished = true;
      }
    }, calls);
    const client = assignmentClient(address);
    const open = drain(client.watchReassignment({ id: "", afterSequence: 0, stopWhenDone: false }));
    await untilTrue("the stream to be registered", () => calls.count("server-stream") === 1, SOON);
    calls.endStreams();
    const ended = await open;
    expect(ended.code).toBe(Status.UNAVAILABLE);
    expect(ended.details).toMatch(/shutting down/);
    expect(ended.messages.map((m) => m.sequence)).toEqual([1]);
    await untilTrue(
      "the generator to finish and the call to be forgotten",
      () => finished && calls.count() === 0,
      SOON,
    );

    const late = await drain(client.watchReassignment({ id: "", afterSequence: 0, stopWhenDone: false }));
    expect(late.code).toBe(Status.UNAVAILABLE);
  });
});

describe("ServiceRegistry", () => {
  it("answers UNIMPLEMENTED until a handler is plugged in, also after the server started", async () => {
    const registry = new ServiceRegistry({ calls: new ActiveCalls(), logger });
    const address = await startServer((server) => registry.addToServer(server));
    const cluster = clusterClient(address);

    const before = await getInfo(cluster);
    expect(before.error?.code).toBe(Status.UNIMPLEMENTED);
    expect(before.error?.details).toBe("sanpath.v1.ClusterService/GetClusterInfo is not built yet");

    registry.implement("cluster", {
      getClusterInfo: () =>
        Promise.resolve(GetClusterInfoResponse.create({ consulRoot: "Root", pathCount: 7 })),
    });
    expect(registry.isImplemented("cluster", "getClusterInfo")).toBe(true);
    const after = await getInfo(cluster);
    expect(after.response).toMatchObject({ consulRoot: "Root", pathCount: 7 });

    registry.unimplement("cluster");
    expect((await getInfo(cluster)).error?.code).toBe(Status.UNIMPLEMENTED);
  });

  it("dispatches server streams and answers UNIMPLEMENTED for an unbuilt one", async () => {
    const registry = new ServiceRegistry({ calls: new ActiveCalls(), logger });
    const address = await startServer((server) => registry.addToServer(server));
    const client = assignmentClient(address);
    const request = { id: "", afterSequence: 0, stopWhenDone: true };

    const unbuilt = await drain(client.watchReassignment(request));
    expect(unbuilt.code).toBe(Status.UNIMPLEMENTED);
    expect(unbuilt.details).toBe("sanpath.v1.AssignmentService/WatchReassignment is not built yet");

    registry.implement("assignment", {
      watchReassignment: async function* () {
        await sleep(1); // handlers await their data source
        yield event(1);
        yield event(2);
      },
    });
    const built = await drain(client.watchReassignment(request));
    expect(built.code).toBe(Status.OK);
    expect(built.messages.map((m) => m.sequence)).toEqual([1, 2]);
  });

  it("refuses a method the service does not have", () => {
    const registry = new ServiceRegistry({ calls: new ActiveCalls(), logger });
    const handlers = { noSuchMethod: () => Promise.resolve({}) } as unknown as Parameters<
      typeof registry.implement<"disk">
    >[1];
    expect(() => registry.implement("disk", handlers)).toThrow(
      /sanpath.v1.DiskService has no method noSuchMethod/,
    );
  });
});
