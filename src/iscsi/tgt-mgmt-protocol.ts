/**
 * tgtd's management protocol, as tgtadm speaks it over tgtd's control socket (tgt 1.0.x; checked
 * against tgt 1.0.85, whose layout is unchanged up to 1.0.97).
 *
 * One request per connection: a fixed header (`struct tgtadm_req`, host byte order), then, when
 * the request has parameters, the parameter string with its NUL. tgtd answers with `struct
 * tgtadm_rsp` (error code, total length), then, after a successful show, the text with its NUL,
 * and closes the connection.
 *
 * Request header, 120 bytes:
 *     0  mode          u32  (TgtMgmtMode)
 *     4  op            u32  (TgtMgmtOp)
 *     8  lld           char[64], NUL-padded ("iscsi")
 *    72  len           u32  header + parameter bytes
 *    76  tid           i32  -1: none (show every target; an account bind without a target)
 *    80  sid           u64
 *    88  lun           u64  2^64-1: none
 *    96  cid           u32
 *   100  host_no       u32
 *   104  device_type   u32  0: disk
 *   108  ac_dir        u32  0: incoming account, 1: outgoing
 *   112  pack          u32
 *   116  force         u32
 * Response header, 8 bytes: err u32 (0: success, else TgtMgmtError), len u32 (header + body).
 */
import { endianness } from "node:os";

export const TGT_REQUEST_HEADER_BYTES = 120;
export const TGT_RESPONSE_HEADER_BYTES = 8;
/** tgtd drops a request whose parameters are longer than this. */
export const TGT_MAX_PARAMETER_BYTES = 8 * 1024;
const LLD_BYTES = 64;

export const TgtMgmtMode = {
  system: 0,
  target: 1,
  logicalunit: 2,
  portal: 3,
  lld: 4,
  session: 5,
  connection: 6,
  account: 7,
} as const;
export type TgtMgmtMode = (typeof TgtMgmtMode)[keyof typeof TgtMgmtMode];

export const TgtMgmtOp = {
  new: 0,
  delete: 1,
  show: 2,
  bind: 3,
  unbind: 4,
  update: 5,
  stat: 6,
  start: 7,
  stop: 8,
} as const;
export type TgtMgmtOp = (typeof TgtMgmtOp)[keyof typeof TgtMgmtOp];

export const NO_TID = -1;
export const NO_LUN = 0xffff_ffff_ffff_ffffn;

/** What tgtadm prints for each of tgtd's error codes (`tgtadm_strerror`, usr/tgtadm_error.h). */
const ERROR_TEXTS: readonly string[] = [
  "success",
  "unknown error",
  "out of memory",
  "can't find the driver",
  "can't find the target",
  "can't find the logical unit",
  "can't find the session",
  "can't find the connection",
  "can't find the binding",
  "this target already exists",
  "this logical unit number already exists",
  "this binding already exists",
  "this access control rule already exists",
  "this access control rule does not exist",
  "this account already exists",
  "can't find the account",
  "too many accounts",
  "invalid request",
  "this target already has an outgoing account",
  "this target is still active",
  "this logical unit is still active",
  "this driver is busy",
  "this operation isn't supported",
  "unknown parameter",
  "this device has Prevent Removal set",
];

/** tgtadm's words for tgtd's error code `code`. */
export function tgtMgmtErrorText(code: number): string {
  return ERROR_TEXTS[code] ?? `(unknown tgtadm_errno ${code})`;
}

export interface TgtMgmtRequest {
  mode: TgtMgmtMode;
  op: TgtMgmtOp;
  lld: string;
  tid: number;
  sid: bigint;
  lun: bigint;
  cid: number;
  hostNo: number;
  deviceType: number;
  accountDirection: 0 | 1;
  force: boolean;
  /** "name=value,..." as tgtadm builds it; empty when the request has none. */
  parameters: string;
}

export interface TgtMgmtResponseHeader {
  /** 0 on success, else one of tgtd's error codes (tgtMgmtErrorText). */
  error: number;
  /** Bytes of the whole response, header included. */
  length: number;
}

const littleEndian = endianness() === "LE";

/** The bytes tgtadm writes for `request`: header, then the parameters and their NUL if any. */
export function encodeTgtMgmtRequest(request: TgtMgmtRequest, little = littleEndian): Buffer {
  const lld = Buffer.from(request.lld, "utf8");
  if (lld.length >= LLD_BYTES) throw new RangeError(`lld name longer than ${LLD_BYTES - 1} bytes`);
  const parameters =
    request.parameters === "" ? Buffer.alloc(0) : Buffer.from(`${request.parameters}\0`, "utf8");
  if (parameters.length > TGT_MAX_PARAMETER_BYTES) {
    throw new RangeError(`tgtd takes at most ${TGT_MAX_PARAMETER_BYTES} bytes of parameters`);
  }
  const header = Buffer.alloc(TGT_REQUEST_HEADER_BYTES);
  const u32 = (value: number, offset: number): void => {
    if (little) header.writeUInt32LE(value, offset);
    else header.writeUInt32BE(value, offset);
  };
  const u64 = (value: bigint, offset: number): void => {
    if (little) header.writeBigUInt64LE(value, offset);
    else header.writeBigUInt64BE(value, offset);
  };
  u32(request.mode, 0);
  u32(request.op, 4);
  lld.copy(header, 8);
  u32(TGT_REQUEST_HEADER_BYTES + parameters.length, 72);
  if (little) header.writeInt32LE(request.tid, 76);
  else header.writeInt32BE(request.tid, 76);
  u64(request.sid, 80);
  u64(request.lun, 88);
  u32(request.cid, 96);
  u32(request.hostNo, 100);
  u32(request.deviceType, 104);
  u32(request.accountDirection, 108);
  u32(0, 112);
  u32(request.force ? 1 : 0, 116);
  return Buffer.concat([header, parameters]);
}

/** The response header at the start of `bytes` (at least TGT_RESPONSE_HEADER_BYTES of them). */
export function decodeTgtMgmtResponseHeader(bytes: Buffer, little = littleEndian): TgtMgmtResponseHeader {
  if (bytes.length < TGT_RESPONSE_HEADER_BYTES) throw new RangeError("a partial tgtd response header");
  return little
    ? { error: bytes.readUInt32LE(0), length: bytes.readUInt32LE(4) }
    : { error: bytes.readUInt32BE(0), length: bytes.readUInt32BE(4) };
}

/** The text of a response body as tgtadm prints it: up to its first NUL. */
export function tgtMgmtResponseText(body: Buffer): string {
  const end = body.indexOf(0);
  return body.toString("utf8", 0, end === -1 ? body.length : end);
}
