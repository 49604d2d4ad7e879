import {
  Client as GrpcClient,
  credentials,
  Metadata,
  type CallOptions,
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { AssignmentServiceClient } from "../gen/sanpath/v1/assignment.js";
import { ClusterServiceClient } from "../gen/sanpath/v1/cluster.js";
import { DiskServiceClient } from "../gen/sanpath/v1/disk.js";
import { EventServiceClient } from "../gen/sanpath/v1/event.js";
import { NodeServiceClient } from "../gen/sanpath/v1/node.js";
import type { ClientAuth, ClientCredentialSources } from "../security/client-credentials.js";
import { HealthClient } from "./health-client.js";

export type OutputFormat = "table" | "json";

/** The global options every command gets, validated. */
export interface GlobalOptions {
  /** host:port of a sanpathd. */
  server: string;
  output: OutputFormat;
  /** Deadline of every unary call, and of connecting for streams. */
  timeoutMs: number;
  /** Token and TLS files (--token-file, $SANPATH_TOKEN, --ca, --cert, --key); read by action(). */
  credentials: ClientCredentialSources;
}

/** No token, no TLS: for a sanpathd with auth.mode none. */
const PLAINTEXT: ClientAuth = {
  channel: credentials.createInsecure(),
  options: {},
  tls: false,
  hasToken: false,
};

/** Same keepalive as the server expects: pings on quiet connections (long watch streams). */
const CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
};

type UnaryStarter<Response> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response?: Response) => void,
) => unknown;

/**
 * One CLI run's connection to a sanpathd: typed clients made on first use, a deadline on every
 * call, and output in the chosen format. Commands get one from `action()` (src/cli/action.ts):
 *   const info = await session.unary<GetClusterInfoResponse>((md, opts, done) =>
 *     session.cluster.getClusterInfo({}, md, opts, done));
 */
export class CliSession {
  private readonly clients: Client[] = [];
  private clusterClient: ClusterServiceClient | undefined;
  private diskClient: DiskServiceClient | undefined;
  private assignmentClient: AssignmentServiceClient | undefined;
  private nodeClient: NodeServiceClient | undefined;
  private eventClient: EventServiceClient | undefined;
  private healthClient: HealthClient | undefined;

  /** `auth`: TLS channel credentials and the bearer token interceptor (src/security/client-credentials.ts). */
  constructor(
    readonly options: GlobalOptions,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly auth: ClientAuth = PLAINTEXT,
  ) {}

  get cluster(): ClusterServiceClient {
    this.clusterClient ??= this.track(
      new ClusterServiceClient(this.options.server, this.auth.channel, this.clientOptions()),
    );
    return this.clusterClient;
  }

  get disk(): DiskServiceClient {
    this.diskClient ??= this.track(
      new DiskServiceClient(this.options.server, this.auth.channel, this.clientOptions()),
    );
    return this.diskClient;
  }

  get assignment(): AssignmentServiceClient {
    this.assignmentClient ??= this.track(
      new AssignmentServiceClient(this.options.server, this.auth.channel, this.clientOptions()),
    );
    return this.assignmentClient;
  }

  get node(): NodeServiceClient {
    this.nodeClient ??= this.track(
      new NodeServiceClient(this.options.server, this.auth.channel, this.clientOptions()),
    );
    return this.nodeClient;
  }

  get events(): EventServiceClient {
    this.eventClient ??= this.track(
      new EventServiceClient(this.options.server, this.auth.channel, this.clientOptions()),
    );
    return this.eventClient;
  }

  get health(): HealthClient {
    this.healthClient ??= new HealthClient(
      this.options.server,
      new GrpcClient(this.options.server, this.auth.channel, CHANNEL_OPTIONS),
    );
    return this.healthClient;
  }

  /** A fresh deadline, --timeout from now. */
  deadline(): Date {
    return new Date(Date.now() + this.options.timeoutMs);
  }

  /** Runs one unary call with the deadline; rejects with the gRPC ServiceError. */
  unary<Response>(start: UnaryStarter<Response>, metadata = new Metadata()): Promise<Response> {
    return new Promise((resolve, reject) => {
      start(metadata, { deadline: this.deadline() }, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error("the server sent no response"));
        else resolve(response);
      });
    });
  }

  /** A server stream as an async iterable; breaking out of the loop cancels the call. */
  async *stream<Response>(call: ClientReadableStream<Response>): AsyncGenerator<Response> {
    try {
      for await (const message of call) yield message as Response;
    } finally {
      call.cancel();
    }
  }

  /** Prints `json` (pretty) with --output json, else the text `table()` renders. */
  print(json: unknown, table: () => string): void {
    this.out.write(this.options.output === "json" ? `${JSON.stringify(json, null, 2)}\n` : `${table()}\n`);
  }

  close(): void {
    for (const client of this.clients) client.close();
    this.healthClient?.close();
  }

  private clientOptions(): ChannelOptions {
    return { ...CHANNEL_OPTIONS, ...this.auth.options };
  }

  private track<T extends Client>(client: T): T {
    this.clients.push(client);
    return client;
  }
}
