/**
 * A minimal iSCSI initiator (RFC 7143) for probing paths many times a second: one TCP connection,
 * a login straight into the operational stage (no authentication, digests off), then READ
 * CAPACITY (16) commands on LUN 1 over the open session. Enough to tell, from the client, the
 * moment a path stops answering and the moment it answers again; not a general initiator (no CHAP,
 * no R2T, no multi-PDU data).
 *
 * It runs inside the client namespace (see iscsi-probe-main.ts): connections to path IPs go
 * through that namespace's interfaces like iscsi-readcapacity16's do.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

const BHS_LENGTH = 48;
const OP_LOGIN_REQUEST = 0x03;
const OP_SCSI_COMMAND = 0x01;
const OP_LOGIN_RESPONSE = 0x23;
const OP_SCSI_RESPONSE = 0x21;
const OP_DATA_IN = 0x25;
const OP_REJECT = 0x3f;
const READ_CAPACITY_16 = 0x9e;
const SERVICE_ACTION_READ_CAPACITY = 0x10;
const CAPACITY_BYTES = 32;

export class IscsiProbeError extends Error {}

/** SCSI status CHECK CONDITION (e.g. a unit attention the first time a nexus is used). */
class CheckCondition extends IscsiProbeError {}

interface Pdu {
  opcode: number;
  bhs: Buffer;
  data: Buffer;
}

/** An open iSCSI session to one target (LUN 1), answering `readCapacity()` calls one at a time. */
export class IscsiSession {
  private buffer = Buffer.alloc(0);
  private waiter: { resolve: (pdu: Pdu) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private cmdSn = 1;
  private expStatSn = 0;
  private itt = 1;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.deliver();
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      this.waiter?.reject(this.failure);
      this.waiter = undefined;
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new IscsiProbeError("connection closed")));
  }

  /** Connects to ip:3260 and logs in to `iqn` as `initiator`, within `timeoutMs`. */
  static async open(ip: string, iqn: string, initiator: string, timeoutMs: number): Promise<IscsiSession> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const candidate = connect({ host: ip, port: 3260, noDelay: true });
      const timer = setTimeout(() => {
        candidate.destroy();
        reject(new IscsiProbeError(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      candidate.once("connect", () => {
        clearTimeout(timer);
        resolve(candidate);
      });
      candidate.once("error", (error) => {
        clearTimeout(timer);
        candidate.destroy();
        reject(new IscsiProbeError(error.message));
      });
    });
    const session = new IscsiSession(socket);
    try {
      await session.login(iqn, initiator, timeoutMs);
      // A new I_T nexus first gets CHECK CONDITION (UNIT ATTENTION: power on / reset); once
      // reported, it is cleared.
      await session.readCapacity(timeoutMs).catch((error: unknown) => {
        if (!(error instanceof CheckCondition)) throw error;
      });
    } catch (error) {
      session.close();
      throw error;
    }
    return session;
  }

  /** READ CAPACITY (16) on LUN 1: the LUN's size in bytes. */
  async readCapacity(timeoutMs: number): Promise<number> {
    const bhs = Buffer.alloc(BHS_LENGTH);
    bhs[0] = OP_SCSI_COMMAND;
    bhs[1] = 0x80 | 0x40 | 0x01; // final, read, simple task attribute
    bhs[9] = 0x01; // LUN 1, single-level addressing
    const itt = this.nextItt();
    bhs.writeUInt32BE(itt, 16);
    bhs.writeUInt32BE(CAPACITY_BYTES, 20);
    bhs.writeUInt32BE(this.cmdSn, 24);
    bhs.writeUInt32BE(this.expStatSn, 28);
    bhs[32] = READ_CAPACITY_16;
    bhs[33] = SERVICE_ACTION_READ_CAPACITY;
    bhs.writeUInt32BE(CAPACITY_BYTES, 32 + 10);
    this.cmdSn += 1;
    this.socket.write(bhs);

    let capacity: Buffer | undefined;
    for (;;) {
      const pdu = await this.next(timeoutMs);
      if (pdu.opcode === OP_REJECT) throw new IscsiProbeError("the target rejected the command");
      if (pdu.opcode === OP_DATA_IN) {
        capacity = Buffer.concat([capacity ?? Buffer.alloc(0), pdu.data]);
        // S bit: the status comes with this Data-In; no SCSI Response follows.
        if ((pdu.bhs[1] ?? 0) & 0x01) {
          this.expStatSn = pdu.bhs.readUInt32BE(24) + 1;
          return capacityOf(capacity, pdu.bhs[3] ?? 0);
        }
        continue;
      }
      if (pdu.opcode === OP_SCSI_RESPONSE) {
        this.expStatSn = pdu.bhs.readUInt32BE(24) + 1;
        return capacityOf(capacity, pdu.bhs[3] ?? 0);
      }
      // NOP-In and other unsolicited PDUs are ignored.
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private async login(iqn: string, initiator: string, timeoutMs: number): Promise<void> {
    const keys = [
      `InitiatorName=${initiator}`,
      `TargetName=${iqn}`,
      "SessionType=Normal",
      "HeaderDigest=None",
      "DataDigest=None",
      "MaxRecvDataSegmentLength=262144",
      "InitialR2T=Yes",
      "ImmediateData=No",
      "MaxConnections=1",
      "ErrorRecoveryLevel=0",
    ];
    const data = Buffer.from(`${keys.join("\0")}\0`, "utf8");
    const bhs = Buffer.alloc(BHS_LENGTH);
    bhs[0] = 0x40 | OP_LOGIN_REQUEST; // immediate
    bhs[1] = 0x80 | (1 << 2) | 3; // transit, operational stage → full feature phase
    bhs.writeUIntBE(data.length, 5, 3);
    bhs[8] = 0x80; // ISID type "random"
    randomBytes(5).copy(bhs, 9);
    bhs.writeUInt32BE(this.nextItt(), 16);
    bhs.writeUInt32BE(this.cmdSn, 24);
    bhs.writeUInt32BE(this.expStatSn, 28);
    this.socket.write(Buffer.concat([bhs, data, Buffer.alloc(pad(data.length) - data.length)]));
    const response = await this.next(timeoutMs);
    if (response.opcode !== OP_LOGIN_RESPONSE)
      throw new IscsiProbeError(`login: unexpected opcode ${response.opcode}`);
    const statusClass = response.bhs[36] ?? 0xff;
    if (statusClass !== 0) {
      throw new IscsiProbeError(
        `login refused (status class ${statusClass}, detail ${response.bhs[37] ?? 0})`,
      );
    }
    const transit = ((response.bhs[1] ?? 0) & 0x80) !== 0;
    if (!transit || ((response.bhs[1] ?? 0) & 0x03) !== 3) {
      throw new IscsiProbeError("login: the target did not move to the full feature phase in one step");
    }
    this.expStatSn = response.bhs.readUInt32BE(24) + 1;
  }

  private nextItt(): number {
    this.itt = (this.itt % 0x7fffffff) + 1;
    return this.itt;
  }

  private next(timeoutMs: number): Promise<Pdu> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const ready = this.take();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new IscsiProbeError(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (pdu) => {
          clearTimeout(timer);
          resolve(pdu);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  private deliver(): void {
    if (this.waiter === undefined) return;
    const pdu = this.take();
    if (pdu === undefined) return;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter.resolve(pdu);
  }

  /** One whole PDU from the buffer, if there is one. */
  private take(): Pdu | undefined {
    if (this.buffer.length < BHS_LENGTH) return undefined;
    const ahsLength = (this.buffer[4] ?? 0) * 4;
    const dataLength = this.buffer.readUIntBE(5, 3);
    const total = BHS_LENGTH + ahsLength + pad(dataLength);
    if (this.buffer.length < total) return undefined;
    const bhs = this.buffer.subarray(0, BHS_LENGTH);
    const data = this.buffer.subarray(BHS_LENGTH + ahsLength, BHS_LENGTH + ahsLength + dataLength);
    this.buffer = this.buffer.subarray(total);
    return { opcode: (bhs[0] ?? 0) & 0x3f, bhs: Buffer.from(bhs), data: Buffer.from(data) };
  }
}

function pad(length: number): number {
  return Math.ceil(length / 4) * 4;
}

function capacityOf(data: Buffer | undefined, scsiStatus: number): number {
  if (scsiStatus === 2) throw new CheckCondition("SCSI status CHECK CONDITION");
  if (scsiStatus !== 0) throw new IscsiProbeError(`SCSI status ${scsiStatus}`);
  if (data === undefined || data.length < 12) throw new IscsiProbeError("READ CAPACITY returned no data");
  const lastLba = data.readBigUInt64BE(0);
  const blockLength = data.readUInt32BE(8);
  return Number((lastLba + 1n) * BigInt(blockLength));
}
