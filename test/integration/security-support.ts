/**
 * Shared pieces of the security tests: raw calls to any sanpath.v1 method (bytes in, status out),
 * the list of every method, and a token file with one token per role.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Client,
  Metadata,
  status as Status,
  type ChannelCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { SANPATH_SERVICES } from "../../src/api/service-registry.js";
import { FIELD_METADATA_KEY, REASON_METADATA_KEY } from "../../src/api/grpc-status.js";
import { formatTokenFile, generateToken, tokenEntry } from "../../src/security/token-file.js";
import { ROLES, type Role } from "../../src/security/roles.js";

export interface ContractMethod {
  /** "/sanpath.v1.DiskService/AddDisk" */
  readonly path: string;
  readonly streaming: boolean;
}

/** Every RPC of the sanpath.v1 services. */
export function contractMethods(): ContractMethod[] {
  return Object.values(SANPATH_SERVICES).flatMap((service) =>
    Object.values(
      service.definition as Readonly<Record<string, { path: string; responseStream: boolean }>>,
    ).map((method) => ({ path: method.path, streaming: method.responseStream })),
  );
}

export interface RawOutcome {
  /** gRPC status name: "OK", "UNAUTHENTICATED", … */
  code: string;
  details: string;
  reason: string | undefined;
  field: string | undefined;
  /** The response bytes of a unary call, or of every message of a stream. */
  responses: Buffer[];
}

const identity = (bytes: Buffer): Buffer => bytes;

/** A client for raw calls: `close()` it. */
export function rawClient(address: string, channel: ChannelCredentials): Client {
  return new Client(address, channel, { "grpc.max_send_message_length": 64 * 1024 * 1024 });
}

/**
 * Calls `method` with `body` (serialized request bytes; empty = every field at its default) and
 * `token` as bearer token when given. A stream is read to its end. Never rejects.
 */
export function rawCall(
  client: Client,
  method: ContractMethod,
  body: Buffer = Buffer.alloc(0),
  token?: string,
  timeoutMs = 5000,
): Promise<RawOutcome> {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  const deadline = new Date(Date.now() + timeoutMs);
  const outcome = (error: ServiceError | null, responses: Buffer[]): RawOutcome => {
    const code = error === null ? Status.OK : error.code;
    const text = (key: string): string | undefined => {
      const value = error?.metadata.get(key)[0];
      return typeof value === "string" ? value : undefined;
    };
    return {
      code: Status[code],
      details: error?.details ?? "",
      reason: text(REASON_METADATA_KEY),
      field: text(FIELD_METADATA_KEY),
      responses,
    };
  };
  return new Promise((resolve) => {
    if (!method.streaming) {
      client.makeUnaryRequest(
        method.path,
        identity,
        identity,
        body,
        metadata,
        { deadline },
        (error, response) => resolve(outcome(error, response === undefined ? [] : [response])),
      );
      return;
    }
    const responses: Buffer[] = [];
    const call = client.makeServerStreamRequest(method.path, identity, identity, body, metadata, {
      deadline,
    });
    call.on("data", (message: Buffer) => responses.push(message));
    call.on("error", (error: ServiceError) => resolve(outcome(error, responses)));
    call.on("end", () => resolve(outcome(null, responses)));
  });
}

/** One token per role (names "test-<role>") in `dir`/tokens.json; returns the file and the tokens. */
export function writeRoleTokens(dir: string): { tokenFile: string; tokens: Record<Role, string> } {
  const tokens = Object.fromEntries(ROLES.map((role) => [role, generateToken()])) as Record<Role, string>;
  const tokenFile = join(dir, "tokens.json");
  writeFileSync(
    tokenFile,
    formatTokenFile(ROLES.map((role) => tokenEntry(`test-${role}`, role, tokens[role]))),
  );
  return { tokenFile, tokens };
}

/** The refusals of the gate. */
export const GATE_REFUSALS: readonly string[] = ["UNAUTHENTICATED", "PERMISSION_DENIED"];
