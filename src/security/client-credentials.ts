import { readFile } from "node:fs/promises";
import {
  credentials,
  InterceptingCall,
  type ChannelCredentials,
  type ClientOptions,
  type Interceptor,
} from "@grpc/grpc-js";
import { SanpathError } from "../errors/sanpath-error.js";
import { AUTHORIZATION_METADATA_KEY } from "./authorizer.js";

/** Where a client's credentials come from (any may be absent). */
export interface ClientCredentialSources {
  /** The token itself, e.g. from $SANPATH_TOKEN (never from a command-line value). */
  token?: string | undefined;
  /** A file holding the token (surrounding white space ignored). */
  tokenFile?: string | undefined;
  /** PEM of the cluster CA: the server's certificate must chain to it. Turns TLS on. */
  ca?: string | undefined;
  /** PEM certificate and key this client presents (mutual TLS); both or neither. */
  cert?: string | undefined;
  key?: string | undefined;
}

/** What a gRPC client is built with: channel credentials and the interceptor adding the token. */
export interface ClientAuth {
  readonly channel: ChannelCredentials;
  readonly options: Pick<ClientOptions, "interceptors">;
  readonly tls: boolean;
  readonly hasToken: boolean;
}

/**
 * Reads the files named by `sources`: plaintext unless a CA is given; the bearer token (if any)
 * goes in the `authorization` metadata of every call. Errors name the option at fault, never a
 * file's content.
 */
export async function loadClientAuth(
  sources: ClientCredentialSources,
  names = CLI_OPTION_NAMES,
): Promise<ClientAuth> {
  let token = sources.token?.trim();
  if (token === "") token = undefined;
  if (token === undefined && sources.tokenFile !== undefined) {
    token = (await readPem(sources.tokenFile, names.tokenFile)).toString("utf8").trim();
    if (token === "") throw credentialError(names.tokenFile, `${sources.tokenFile} is empty`);
  }
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token))
    throw credentialError(names.token, "the token must be visible ASCII characters");

  if ((sources.cert === undefined) !== (sources.key === undefined))
    throw credentialError(names.cert, `${names.cert} and ${names.key} go together`);
  if (sources.ca === undefined && sources.cert !== undefined)
    throw credentialError(names.ca, `${names.cert} needs ${names.ca} (the cluster CA) as well`);
  let channel = credentials.createInsecure();
  if (sources.ca !== undefined) {
    const ca = await readPem(sources.ca, names.ca);
    const cert = sources.cert === undefined ? null : await readPem(sources.cert, names.cert);
    const key = sources.key === undefined ? null : await readPem(sources.key, names.key);
    channel = credentials.createSsl(ca, key, cert);
  }
  return {
    channel,
    options: { interceptors: token === undefined ? [] : [bearerTokenInterceptor(token)] },
    tls: sources.ca !== undefined,
    hasToken: token !== undefined,
  };
}

/** Adds `authorization: Bearer <token>` to every call's metadata. */
export function bearerTokenInterceptor(token: string): Interceptor {
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(AUTHORIZATION_METADATA_KEY, value);
        next(metadata, listener);
      },
    });
}

export interface CredentialOptionNames {
  token: string;
  tokenFile: string;
  ca: string;
  cert: string;
  key: string;
}

export const CLI_OPTION_NAMES: CredentialOptionNames = {
  token: "$SANPATH_TOKEN",
  tokenFile: "--token-file",
  ca: "--ca",
  cert: "--cert",
  key: "--key",
};

async function readPem(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw credentialError(option, `cannot read ${path} (${code})`, error);
  }
}

function credentialError(field: string, message: string, cause?: unknown): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${message}`, {
    reason: "INVALID_FIELD",
    field,
    cause,
  });
}
