/**
 * The admin command line: users and devices in the directory, and a look at stored messages.
 * It writes the same usermeta rows WordPress holds, through the same Directory as the server,
 * so it works on the embedded store and on a WordPress MySQL database alike.
 *
 *   npm run admin -- user add <uuid> [--wp-user-id N]
 *   npm run admin -- device add <uuid> <device-id> [--name NAME] [--secret]
 *   npm run admin -- device list <uuid>
 *   npm run admin -- device status <uuid> <device-id>
 *   npm run admin -- device secret <uuid> <device-id>
 *   npm run admin -- device revoke <uuid> <device-id>
 *   npm run admin -- device restore <uuid> <device-id>
 *   npm run admin -- device remove <uuid> <device-id>
 *   npm run admin -- messages [--limit N]
 *   npm run admin -- messages --after <cursor> | --follow; consumer list|show|set (consumer-commands.ts)
 *   npm run admin -- sessions rewrap
 */
import { parseArgs } from 'node:util';
import { openBackends } from '../backends/index.js';
import { ConfigError, loadEnv, readConfig, type Config } from '../config/config.js';
import { generateSecret, secretSha256 } from '../credentials/index.js';
import { REVOKED_STATUS } from '../directory/device-list.js';
import { Directory, DirectoryError } from '../directory/directory.js';
import { DEVICE_ID_PATTERN } from '../protocol/client-key.js';
import { createLogger } from '../logger.js';
import { keyWrapFor } from '../session/key-wrap-config.js';
import { rewrapSessions } from './rewrap.js';
import { PAGE_LIMIT } from '../consumer/service.js';
import { consumerCommand, ConsumerUsageError, CONSUMER_USAGE, readLog } from './consumer-commands.js';

const USAGE = `usage:
  admin user add <uuid> [--wp-user-id N]      give a user (WordPress user id N, or a new one) this UUID
  admin device add <uuid> <device-id> [--name NAME] [--secret]
                                              --secret: generate the device's secret (printed once; only its hash is kept)
  admin device list <uuid>
  admin device status <uuid> <device-id>
  admin device secret <uuid> <device-id>      give the device a new secret (printed once) and end its session
  admin device revoke <uuid> <device-id>      status "revoked": no session until WordPress or this command lifts it; ends its session
  admin device restore <uuid> <device-id>     lift a revocation (status "off": the device may authenticate again)
  admin device remove <uuid> <device-id>      remove the device and end its session
  admin messages [--limit N]                  the most recent stored messages, as JSON lines
  admin sessions rewrap                       re-encrypt every stored session key under KEY_ENCRYPTION_KEY
${CONSUMER_USAGE}`;

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
    options: {
      name: { type: 'string' },
      'wp-user-id': { type: 'string' },
      limit: { type: 'string' },
      secret: { type: 'boolean' },
      after: { type: 'string' },
      follow: { type: 'boolean' },
    },
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
  /** SPEC §10: `admin device remove`, `revoke` and `secret` end the session at once, in every process. */
  const endSession = async (uuid: string, deviceId: string): Promise<void> => {
    const ended = await backends.sessions.delete(`${uuid}${deviceId}`);
    print(ended ? 'its session was ended' : 'it had no session');
  };
  /** Printed once: the store keeps only the hash, so nobody can show it again. */
  const printSecret = (uuid: string, deviceId: string, secret: string): void => {
    print(`client key: ${uuid}${deviceId}`);
    print(`secret:     ${secret}`);
    print('keep the secret now: it is shown only this once (the directory holds only its SHA-256)');
  };
  try {
    if (area === 'user' && action === 'add') {
      const wpUserId = values['wp-user-id'];
      if (wpUserId !== undefined && !/^\d+$/.test(wpUserId)) throw new UsageError('--wp-user-id takes a number');
      const id = await directory.addUser(checkUuid(rest[0], config), wpUserId);
      print(`user ${id} has uuid ${rest[0]}`);
    } else if (area === 'device' && action === 'add') {
      const uuid = checkUuid(rest[0], config);
      const deviceId = checkDeviceId(rest[1]);
      const secret = values.secret === true ? generateSecret() : undefined;
      await directory.addDevice(uuid, deviceId, values.name ?? deviceId, secret === undefined ? undefined : secretSha256(secret));
      if (secret === undefined) print(`device ${deviceId} added; its client key is ${uuid}${deviceId}`);
      else {
        print(`device ${deviceId} added with a secret`);
        printSecret(uuid, deviceId, secret);
      }
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
      const uuid = checkUuid(rest[0], config);
      await directory.removeDevice(uuid, deviceId);
      print(`device ${deviceId} removed`);
      await endSession(uuid, deviceId);
    } else if (area === 'device' && action === 'revoke') {
      const deviceId = checkDeviceId(rest[1]);
      const uuid = checkUuid(rest[0], config);
      await directory.setDeviceEntry(uuid, deviceId, 'status', REVOKED_STATUS);
      print(`device ${deviceId} revoked`);
      await endSession(uuid, deviceId);
    } else if (area === 'device' && action === 'restore') {
      const deviceId = checkDeviceId(rest[1]);
      await directory.setDeviceEntry(checkUuid(rest[0], config), deviceId, 'status', 'off');
      print(`device ${deviceId} may authenticate again (status off)`);
    } else if (area === 'device' && action === 'secret') {
      const deviceId = checkDeviceId(rest[1]);
      const uuid = checkUuid(rest[0], config);
      const secret = generateSecret();
      await directory.setDeviceEntry(uuid, deviceId, 'secret_sha256', secretSha256(secret));
      print(`device ${deviceId} has a new secret; the old one no longer opens a session`);
      printSecret(uuid, deviceId, secret);
      // Whoever held the old secret may hold the session it opened.
      await endSession(uuid, deviceId);
    } else if (area === 'messages') {
      const limit = Number(values.limit ?? (values.after === undefined ? 20 : PAGE_LIMIT.default));
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive number');
      if (values.after !== undefined || values.follow === true) {
        await readLog(backends, { after: values.after, follow: values.follow === true, limit: Math.min(limit, PAGE_LIMIT.max) }, print);
      } else {
        for (const record of await backends.messages.list(limit)) print(JSON.stringify(record));
      }
    } else if (area === 'consumer') {
      await consumerCommand(backends, action, rest, print);
    } else if (area === 'sessions' && action === 'rewrap') {
      const report = await rewrapSessions(backends.sessionRewriter, keyWrapFor(config.hardening));
      print(
        `sessions rewrapped: ${report.rewrapped}, already under the current key: ${report.unchanged}, ` +
          `unreadable with the configured keys: ${report.unreadable}, changed meanwhile: ${report.changedMeanwhile}`,
      );
      if (report.unreadable > 0) process.exitCode = 1;
      // Issue 15: unused pooled pairs under another key are dropped rather than re-wrapped (the
      // pool refills), so KEY_ENCRYPTION_KEY_PREVIOUS can be removed right after this command.
      const discarded = await backends.keyPool.discardOtherWraps(keyWrapFor(config.hardening).tag);
      print(`pooled key pairs under another key discarded: ${discarded}`);
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
  if (error instanceof UsageError || error instanceof ConsumerUsageError) process.stderr.write(`${error.message}\n${USAGE}\n`);
  else if (error instanceof ConfigError) process.stderr.write(`configuration error: ${error.message}\n`);
  // DirectoryError, DeviceListError, BackendUnavailableError: each message is written for a person.
  else if (error instanceof Error) process.stderr.write(`error: ${error.message}\n`);
  else throw error;
  process.exitCode = 1;
}
