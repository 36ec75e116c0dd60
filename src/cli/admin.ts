/**
 * The admin command line: users and devices in the directory, and a look at stored messages.
 * It writes the same usermeta rows WordPress holds, through the same Directory as the server,
 * so it works on the embedded store and on a WordPress MySQL database alike.
 *
 *   npm run admin -- user add <uuid> [--wp-user-id N]
 *   npm run admin -- device add <uuid> <device-id> [--name NAME]
 *   npm run admin -- device list <uuid>
 *   npm run admin -- device status <uuid> <device-id>
 *   npm run admin -- device remove <uuid> <device-id>
 *   npm run admin -- messages [--limit N]
 */
import { parseArgs } from 'node:util';
import { openBackends } from '../backends/index.js';
import { ConfigError, loadEnv, readConfig, type Config } from '../config/config.js';
import { Directory, DirectoryError } from '../directory/directory.js';
import { DEVICE_ID_PATTERN } from '../protocol/client-key.js';
import { createLogger } from '../logger.js';

const USAGE = `usage:
  admin user add <uuid> [--wp-user-id N]      give a user (WordPress user id N, or a new one) this UUID
  admin device add <uuid> <device-id> [--name NAME]
  admin device list <uuid>
  admin device status <uuid> <device-id>
  admin device remove <uuid> <device-id>
  admin messages [--limit N]                  the most recent stored messages, as JSON lines`;

/** A mistake in the command line; printed with the usage. */
class UsageError extends Error {}

function checkUuid(uuid: string | undefined, config: Config): string {
  if (uuid === undefined) throw new UsageError('missing <uuid>');
  if (Array.from(uuid).length !== config.userIdLength) {
    throw new UsageError(`a user id must be ${config.userIdLength} characters (USER_ID_LENGTH), "${uuid}" is not`);
  }
  return uuid;
}

function checkDeviceId(deviceId: string | undefined): string {
  if (deviceId === undefined) throw new UsageError('missing <device-id>');
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new UsageError('a device id is 1 to 64 of A-Z a-z 0-9 . _ : -');
  return deviceId;
}

async function run(argv: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, 'wp-user-id': { type: 'string' }, limit: { type: 'string' } },
  });
  const [area, action, ...rest] = positionals;
  const log = createLogger('warn', process.stderr as never);
  const backends = await openBackends(config, log);
  const directory = new Directory(
    backends.usermeta,
    { uuidMetaKey: config.wpUuidMetaKey, devicesMetaKey: config.wpDevicesMetaKey },
    log,
  );
  const print = (line: string): boolean => process.stdout.write(`${line}\n`);
  try {
    if (area === 'user' && action === 'add') {
      const wpUserId = values['wp-user-id'];
      if (wpUserId !== undefined && !/^\d+$/.test(wpUserId)) throw new UsageError('--wp-user-id takes a number');
      const id = await directory.addUser(checkUuid(rest[0], config), wpUserId);
      print(`user ${id} has uuid ${rest[0]}`);
    } else if (area === 'device' && action === 'add') {
      const uuid = checkUuid(rest[0], config);
      const deviceId = checkDeviceId(rest[1]);
      await directory.addDevice(uuid, deviceId, values.name ?? deviceId);
      print(`device ${deviceId} added; its client key is ${uuid}${deviceId}`);
    } else if (area === 'device' && action === 'list') {
      for (const device of await directory.listDevices(checkUuid(rest[0], config))) {
        print(`${device.id}\t${device.status ?? '-'}\t${device.name}`);
      }
    } else if (area === 'device' && action === 'status') {
      const deviceId = checkDeviceId(rest[1]);
      const device = (await directory.listDevices(checkUuid(rest[0], config))).find((d) => d.id === deviceId);
      if (device === undefined) throw new DirectoryError(`no device ${deviceId}`);
      print(device.status ?? 'unknown');
    } else if (area === 'device' && action === 'remove') {
      const deviceId = checkDeviceId(rest[1]);
      await directory.removeDevice(checkUuid(rest[0], config), deviceId);
      print(`device ${deviceId} removed`);
    } else if (area === 'messages') {
      const limit = Number(values.limit ?? 20);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive number');
      for (const record of await backends.messages.list(limit)) print(JSON.stringify(record));
    } else {
      throw new UsageError(area === undefined ? 'missing command' : `unknown command: ${positionals.join(' ')}`);
    }
  } finally {
    await backends.close();
  }
}

/** `admin help`, `admin --help`, `admin -h`: the usage on stdout, exit 0, before any setting is read. */
const HELP_WORDS = new Set(['help', '--help', '-h']);
const argv = process.argv.slice(2);

try {
  if (argv.length > 0 && argv.every((word) => HELP_WORDS.has(word))) process.stdout.write(`${USAGE}\n`);
  else await run(argv, readConfig(loadEnv()));
} catch (error) {
  if (error instanceof UsageError) process.stderr.write(`${error.message}\n${USAGE}\n`);
  else if (error instanceof ConfigError) process.stderr.write(`configuration error: ${error.message}\n`);
  // DirectoryError, DeviceListError, BackendUnavailableError: each message is written for a person.
  else if (error instanceof Error) process.stderr.write(`error: ${error.message}\n`);
  else throw error;
  process.exitCode = 1;
}
