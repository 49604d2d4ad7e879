/**
 * A tgtadm argument list (`--op new --mode target --tid 1 --targetname IQN`, as the tgt driver
 * passes them, without `-C` and `--lld`) turned into the management request tgtadm would send for
 * it: the same header fields and the same parameter string (tgt's usr/tgtadm.c builds it as
 * "name=value,path=...,bstype=...,bsopts=...,targetname=...,initiator-address=...,
 * initiator-name=...,user=...,password=...,portalOps <param>," in that order, whatever the order
 * of the options). Only the long options the driver uses are known; anything else is refused
 * before a byte is sent. tgtadm's own checks that matter to tgtd (a target needs a tid, a logical
 * unit a tid and a LUN, an update a name and a value) are made here too.
 */
import { isSecretArg, type CommandArg } from "../exec/command-runner.js";
import { NO_LUN, NO_TID, TgtMgmtMode, TgtMgmtOp, type TgtMgmtRequest } from "./tgt-mgmt-protocol.js";

/** An argument list tgtadm would refuse, or one this channel does not speak. */
export class TgtMgmtArgsError extends Error {}

const VALUE_OPTIONS = [
  "--op",
  "--mode",
  "--tid",
  "--sid",
  "--cid",
  "--lun",
  "--name",
  "--value",
  "--backing-store",
  "--bstype",
  "--bsopts",
  "--targetname",
  "--initiator-address",
  "--initiator-name",
  "--user",
  "--password",
  "--param",
] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];
const FLAG_OPTIONS = ["--force", "--outgoing"] as const;
type FlagOption = (typeof FLAG_OPTIONS)[number];

const MODE_NAMES: Readonly<Record<string, TgtMgmtMode>> = {
  system: TgtMgmtMode.system,
  sys: TgtMgmtMode.system,
  target: TgtMgmtMode.target,
  tgt: TgtMgmtMode.target,
  logicalunit: TgtMgmtMode.logicalunit,
  lu: TgtMgmtMode.logicalunit,
  portal: TgtMgmtMode.portal,
  pt: TgtMgmtMode.portal,
  session: TgtMgmtMode.session,
  sess: TgtMgmtMode.session,
  connection: TgtMgmtMode.connection,
  conn: TgtMgmtMode.connection,
  account: TgtMgmtMode.account,
  lld: TgtMgmtMode.lld,
};

const OP_NAMES: Readonly<Record<string, TgtMgmtOp>> = TgtMgmtOp;

function isValueOption(arg: string): arg is ValueOption {
  return (VALUE_OPTIONS as readonly string[]).includes(arg);
}

function isFlagOption(arg: string): arg is FlagOption {
  return (FLAG_OPTIONS as readonly string[]).includes(arg);
}

/** The request tgtadm sends for `args` to the low-level driver `lld`. */
export function tgtMgmtRequestOf(args: readonly CommandArg[], lld = "iscsi"): TgtMgmtRequest {
  const values = new Map<ValueOption, string>();
  const flags = new Set<FlagOption>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    if (arg === undefined || isSecretArg(arg)) throw new TgtMgmtArgsError("a secret where an option belongs");
    if (isFlagOption(arg)) {
      flags.add(arg);
      continue;
    }
    if (!isValueOption(arg)) throw new TgtMgmtArgsError(`unknown tgtadm option ${arg}`);
    const value = args[index + 1];
    if (value === undefined) throw new TgtMgmtArgsError(`${arg} needs a value`);
    values.set(arg, isSecretArg(value) ? value.secret : value);
    index += 1;
  }

  const opName = values.get("--op");
  const modeName = values.get("--mode");
  if (opName === undefined) throw new TgtMgmtArgsError("specify the operation type");
  if (modeName === undefined) throw new TgtMgmtArgsError("specify the mode");
  const op = Object.hasOwn(OP_NAMES, opName) ? OP_NAMES[opName] : undefined;
  const mode = Object.hasOwn(MODE_NAMES, modeName) ? MODE_NAMES[modeName] : undefined;
  if (op === undefined) throw new TgtMgmtArgsError(`unknown operation: ${opName}`);
  if (mode === undefined) throw new TgtMgmtArgsError(`unknown mode: ${modeName}`);

  const tid = optionalInteger(values.get("--tid"), "--tid", 0, 0x7fff_ffff);
  const lun = optionalBigInteger(values.get("--lun"), "--lun");
  const name = values.get("--name");
  const value = values.get("--value");
  if (mode === TgtMgmtMode.target && op !== TgtMgmtOp.show && (tid ?? 0) <= 0) {
    throw new TgtMgmtArgsError("a target operation needs --tid (not 0)");
  }
  if (mode === TgtMgmtMode.logicalunit && ((tid ?? 0) <= 0 || lun === undefined)) {
    throw new TgtMgmtArgsError("a logical unit operation needs --tid (not 0) and --lun");
  }
  if (op === TgtMgmtOp.update && (name === undefined || value === undefined)) {
    throw new TgtMgmtArgsError("update operation requires 'name' and 'value' options");
  }
  const param = values.get("--param");
  if (
    mode === TgtMgmtMode.portal &&
    (op === TgtMgmtOp.new || op === TgtMgmtOp.delete) &&
    param === undefined
  ) {
    throw new TgtMgmtArgsError("you must specify --param portal=<portal>");
  }

  const parameters: string[] = [];
  if (name !== undefined) parameters.push(`${name}=${value ?? "(null)"}`);
  const named: readonly [ValueOption, string][] = [
    ["--backing-store", "path"],
    ["--bstype", "bstype"],
    ["--bsopts", "bsopts"],
    ["--targetname", "targetname"],
    ["--initiator-address", "initiator-address"],
    ["--initiator-name", "initiator-name"],
    ["--user", "user"],
    ["--password", "password"],
  ];
  for (const [option, key] of named) {
    const given = values.get(option);
    if (given !== undefined) parameters.push(`${key}=${given}`);
  }
  if (param !== undefined) {
    parameters.push(mode === TgtMgmtMode.portal ? `portalOps ${param},` : `targetOps ${param},`);
  }

  return {
    mode,
    op,
    lld,
    tid: tid ?? NO_TID,
    sid: optionalBigInteger(values.get("--sid"), "--sid") ?? 0n,
    lun: lun ?? NO_LUN,
    cid: optionalInteger(values.get("--cid"), "--cid", 0, 0xffff_ffff) ?? 0,
    hostNo: 0,
    deviceType: 0,
    accountDirection: flags.has("--outgoing") ? 1 : 0,
    force: flags.has("--force"),
    parameters: parameters.join(","),
  };
}

function optionalInteger(
  text: string | undefined,
  option: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const parsed = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new TgtMgmtArgsError(`${option} argument value '${text}' invalid`);
  }
  return parsed;
}

function optionalBigInteger(text: string | undefined, option: string): bigint | undefined {
  if (text === undefined) return undefined;
  const parsed = /^\d+$/.test(text) ? BigInt(text) : -1n;
  if (parsed < 0n || parsed >= NO_LUN)
    throw new TgtMgmtArgsError(`${option} argument value '${text}' invalid`);
  return parsed;
}
