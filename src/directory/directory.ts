/**
 * SPEC §3: users and their devices in the WordPress database. One code path for every
 * backend: the backend only stores rows (UsermetaTable); the device list rules live in
 * device-list.ts.
 */
import type { Logger } from 'pino';
import type { UsermetaTable } from './usermeta.js';
import {
  addDevice,
  describeProblem,
  findDevice,
  listDevices,
  removeDevice,
  setDeviceEntry,
  setDeviceStatus,
} from './device-list.js';

/** The two device states of SPEC §3. */
export type DeviceStatus = 'on' | 'off';

/** A device that may open a session. */
export interface DirectoryDevice {
  /** WordPress's numeric user id (text: it is a BIGINT UNSIGNED). */
  wpUserId: string;
  deviceName: string;
  /** The entry's `status` as stored (`on`, `off`, `revoked`, …), or null. */
  status: string | null;
  /** SPEC §10: the entry's `secret_sha256`, or null for a device without a secret. */
  secretSha256: string | null;
}

/**
 * A user id no WordPress user has (WordPress counts from 1): an auth for an unknown UUID reads
 * this user's devices row, so it costs the directory the same two queries as a known UUID with
 * an unknown device, and its answer time does not tell the two apart (SPEC §10).
 */
const NO_SUCH_WP_USER = '0';

/** A device as the admin command shows it. */
export interface DeviceListing {
  id: string;
  name: string;
  status: string | null;
}

export interface DirectoryOptions {
  uuidMetaKey: string;
  devicesMetaKey: string;
  /**
   * Issue 10 (MAX_DEVICE_LIST_BYTES): a devices value longer than this (in bytes) is not parsed; it
   * is logged and treated as holding no devices, like any unusable value. Absent = no cap.
   */
  maxDeviceListBytes?: number;
}

/** An admin request the directory cannot carry out; its message is for the person at the terminal. */
export class DirectoryError extends Error {
  override name = 'DirectoryError';
}

export class Directory {
  constructor(
    private readonly table: UsermetaTable,
    private readonly options: DirectoryOptions,
    private readonly log: Logger,
  ) {}

  /** The WordPress user whose UUID meta is `uuid`: exactly one row, else none (SPEC §3). */
  async findUser(uuid: string): Promise<string | null> {
    const ids = await this.table.findUserIds(this.options.uuidMetaKey, uuid);
    if (ids.length > 1) this.log.warn({ rows: ids.length }, 'uuid meta is on more than one user: treated as not found');
    return ids.length === 1 ? ids[0]! : null;
  }

  /** The user's device, or null when the user or the device is unknown. */
  async findDevice(uuid: string, deviceId: string): Promise<DirectoryDevice | null> {
    const wpUserId = await this.findUser(uuid);
    if (wpUserId === null) {
      // The same second query a known user costs; its answer is not used.
      const decoy = await this.table.read(NO_SUCH_WP_USER, this.options.devicesMetaKey);
      findDevice(decoy, deviceId);
      return null;
    }
    const metaValue = this.withinCap(wpUserId, await this.table.read(wpUserId, this.options.devicesMetaKey));
    this.warnIfUnusable(wpUserId, metaValue);
    const device = findDevice(metaValue, deviceId);
    return device === null
      ? null
      : { wpUserId, deviceName: device.name, status: device.status, secretSha256: device.secretSha256 };
  }

  /**
   * Sets the device's status and nothing else (SPEC §3), under a row lock.
   * False when the device is no longer in the list.
   */
  async setStatus(wpUserId: string, deviceId: string, status: DeviceStatus): Promise<boolean> {
    let found = false;
    await this.table.update(wpUserId, this.options.devicesMetaKey, (current) => {
      // Over the cap: no devices, so nothing found and nothing written.
      if (this.withinCap(wpUserId, current) !== current) return undefined;
      const result = setDeviceStatus(current, deviceId, status);
      found = result.found;
      return result.found && result.metaValue !== current ? result.metaValue : undefined;
    });
    return found;
  }

  /** Gives a user their UUID meta, as a WordPress plugin would. */
  async addUser(uuid: string, wpUserId?: string): Promise<string> {
    if ((await this.table.findUserIds(this.options.uuidMetaKey, uuid)).length > 0) {
      throw new DirectoryError(`a user with uuid ${uuid} exists already`);
    }
    const id = wpUserId ?? (await this.table.allocateUserId());
    const existing = await this.table.read(id, this.options.uuidMetaKey);
    if (existing !== null) throw new DirectoryError(`user ${id} has uuid ${existing} already`);
    await this.table.insert(id, this.options.uuidMetaKey, uuid);
    return id;
  }

  async addDevice(uuid: string, deviceId: string, name: string, secretSha256?: string): Promise<void> {
    const wpUserId = await this.requireUser(uuid);
    await this.table.update(wpUserId, this.options.devicesMetaKey, (current) => addDevice(current, deviceId, name, secretSha256));
  }

  /** The admin command's edit of one entry (`status`, `secret_sha256`) of a device, under the row lock. */
  async setDeviceEntry(uuid: string, deviceId: string, entry: 'status' | 'secret_sha256', value: string): Promise<void> {
    const wpUserId = await this.requireUser(uuid);
    await this.table.update(wpUserId, this.options.devicesMetaKey, (current) => setDeviceEntry(current, deviceId, entry, value));
  }

  async removeDevice(uuid: string, deviceId: string): Promise<void> {
    const wpUserId = await this.requireUser(uuid);
    await this.table.update(wpUserId, this.options.devicesMetaKey, (current) => removeDevice(current, deviceId));
  }

  async listDevices(uuid: string): Promise<DeviceListing[]> {
    const wpUserId = await this.requireUser(uuid);
    const metaValue = await this.table.read(wpUserId, this.options.devicesMetaKey);
    this.warnIfUnusable(wpUserId, metaValue);
    return listDevices(metaValue);
  }

  private async requireUser(uuid: string): Promise<string> {
    const wpUserId = await this.findUser(uuid);
    if (wpUserId === null) throw new DirectoryError(`no user with uuid ${uuid}`);
    return wpUserId;
  }

  /** The value, or null (no devices) when it is over MAX_DEVICE_LIST_BYTES; that is logged. */
  private withinCap(wpUserId: string, metaValue: string | null): string | null {
    const cap = this.options.maxDeviceListBytes;
    if (metaValue === null || cap === undefined || metaValue.length <= cap / 4) return metaValue;
    const bytes = Buffer.byteLength(metaValue, 'utf8');
    if (bytes <= cap) return metaValue;
    this.log.warn({ wpUserId, bytes, cap }, 'devices meta value over MAX_DEVICE_LIST_BYTES: not parsed, treated as holding no devices');
    return null;
  }

  /** SPEC §3: an unusable value holds no devices, and the operator hears about it. */
  private warnIfUnusable(wpUserId: string, metaValue: string | null): void {
    const problem = describeProblem(metaValue);
    if (problem !== null) this.log.warn({ wpUserId, problem }, 'devices meta value unusable: treated as holding no devices');
  }
}
