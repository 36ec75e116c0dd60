/**
 * The WordPress plugin (SPEC §14), for real:
 * - PHPUnit (Debian's phpunit) on the plugin's pure parts, with webhook signatures made by the
 *   standardwebhooks package and, where it exists, by the server's own signer;
 * - the plugin's QR encoder read back by a real decoder (zbarimg) across QR versions;
 * - end to end: Debian's WordPress installed into a temporary folder on the test's MariaDB and
 *   served by php -S, the plugin activated, and the real server (consumer API, device secrets,
 *   webhooks) reading the same wp_usermeta;
 * - the profile screen in headless Chromium.
 * Missing binaries skip loudly (REQUIRE_REAL_BACKENDS=1 / REQUIRE_BROWSER=1 make them failures).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { NotFoundError, SecureMessageClient, type ClientOptions } from '../../src/client/index.js';
import type { MessageRecord } from '../../src/store/store.js';
import { BROWSER_REQUIRED, CHROMIUM, CHROMIUM_ARGS, chromiumInstalled } from '../helpers/chromium.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { findBinary, skipIfAny, skipUnlessInstalled, sleep, trackFolder, waitUntil } from '../helpers/real-backends.js';
import { REPO_ROOT, makeDataDir, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { skipWithoutWordPress, startWordPress, type WordPress } from '../helpers/wordpress.js';

const PLUGIN_DIR = join(REPO_ROOT, 'wordpress-plugin', 'secure-message-server');
const PLUGIN_FILE = 'secure-message-server/secure-message-server.php';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SECRET_GRAMMAR = /^[A-Za-z0-9_-]{43}$/;

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}) {
  return spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
}

describe('plugin: PHPUnit on the pure parts', { skip: skipUnlessInstalled('PHPUnit of the WordPress plugin', findBinary('phpunit') === null ? [{ binary: 'phpunit', install: "Debian's phpunit (apt-get install phpunit)" }] : []) }, () => {
  test('UUIDs, device lists in both shapes, webhook signatures of independent signers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-phpunit-'));
    const release = trackFolder(dir);
    try {
      const fixtures: Array<Record<string, string>> = [];
      const bodies = ['{"type":"message.stored","timestamp":"2026-12-01T00:00:00.000Z","data":{"payload":"Grüße ✓ \\"quoted\\""}}', '{}', 'not json at all'];
      for (const [i, body] of bodies.entries()) {
        const secret = `whsec_${randomBytes(24 + i * 8).toString('base64')}`;
        const id = createHash('sha256').update(body).digest('hex');
        const timestamp = 1764600000 + i;
        fixtures.push({ signer: 'standardwebhooks', secret, id, timestamp: String(timestamp), body, signature: new Webhook(secret).sign(id, new Date(timestamp * 1000), body) });
      }
      // The server's own signer, where this tree has it (the consumer API's webhook dispatcher).
      const serverSigner = join(REPO_ROOT, 'src/consumer/webhook/signature.ts');
      if (existsSync(serverSigner)) {
        const module = (await import(serverSigner)) as { signDelivery: (secret: Buffer, id: string, ts: number, body: string) => Record<string, string> };
        for (const body of bodies) {
          const secretBytes = randomBytes(32);
          const id = createHash('sha256').update(`server ${body}`).digest('hex');
          const headers = module.signDelivery(secretBytes, id, 1764600100, body);
          fixtures.push({ signer: 'server', secret: `whsec_${secretBytes.toString('base64')}`, id, timestamp: '1764600100', body, signature: headers['webhook-signature'] ?? '' });
        }
      } else {
        process.stderr.write('note: src/consumer/webhook/signature.ts is not in this tree; webhook fixtures come from standardwebhooks only\n');
      }
      const path = join(dir, 'webhook-fixtures.json');
      writeFileSync(path, JSON.stringify(fixtures));
      const result = run('phpunit', ['-c', join(PLUGIN_DIR, 'tests', 'phpunit.xml')], { env: { ...process.env, SECURE_MESSAGE_WEBHOOK_FIXTURES: path } });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /OK \(\d+ tests/);
      assert.doesNotMatch(result.stdout, /Skipped|Incomplete/i, result.stdout);
    } finally {
      release();
    }
  });
});

describe('plugin: the QR encoder against a real decoder', { skip: skipUnlessInstalled('QR decoding test', [findBinary('php'), findBinary('zbarimg')].includes(null) ? [{ binary: 'php / zbarimg', install: "Debian's php-cli and zbar-tools" }] : []) }, () => {
  test('zbarimg reads back payloads from version 1 to version 20-odd', () => {
    // Lengths chosen to cross the version steps: 1-9 use an 8-bit count, 10+ a 16-bit one, 7+ carry version blocks.
    for (const length of [1, 17, 40, 120, 154, 230, 400, 800]) {
      const text = randomBytes(length).toString('base64url').slice(0, length);
      const image = spawnSync('php', [join(PLUGIN_DIR, 'tests', 'qr-pgm.php')], { input: text, maxBuffer: 64 * 1024 * 1024 });
      assert.equal(image.status, 0, String(image.stderr));
      const dir = mkdtempSync(join(tmpdir(), 'sms-qr-'));
      const release = trackFolder(dir);
      try {
        writeFileSync(join(dir, 'code.pgm'), image.stdout);
        const decoded = run('zbarimg', ['--quiet', '--raw', join(dir, 'code.pgm')]);
        assert.equal(decoded.status, 0, `zbarimg could not read the ${length}-byte code: ${decoded.stderr}`);
        assert.equal(decoded.stdout.replace(/\n$/, ''), text, `length ${length}`);
      } finally {
        release();
      }
    }
  });
});

interface DeviceAnswer {
  id: string;
  name: string;
  key: string;
  secret: string;
}

interface Listed {
  id: string;
  name: string;
  status: string | null;
  key: string;
}

function skipWithoutChromium(): string | false {
  if (chromiumInstalled() || BROWSER_REQUIRED) return false;
  process.stderr.write(`SKIPPED: the plugin's profile screen in Chromium: ${CHROMIUM} is missing (Debian: apt-get install chromium; REQUIRE_BROWSER=1 makes this a failure)\n`);
  return `${CHROMIUM} is missing`;
}

const endToEndSkip = skipIfAny(skipWithoutMariadb('WordPress plugin end to end'), skipWithoutWordPress('WordPress plugin end to end'));

describe('plugin end to end: WordPress + MariaDB + the server', { skip: endToEndSkip }, () => {
  let db: MariadbServer;
  let wp: WordPress;
  let server: ServerProcess;
  let data: { dir: string; remove: () => void };
  const apiToken = randomBytes(32).toString('base64url');
  const webhookSecret = `whsec_${randomBytes(32).toString('base64')}`;
  const users: Record<string, { id: number; login: string; password: string; appPassword: string }> = {};
  let serverEnv: Record<string, string>;

  async function rest(user: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (user !== null) {
      const u = users[user]!;
      headers.authorization = `Basic ${Buffer.from(`${u.login}:${u.appPassword}`).toString('base64')}`;
    }
    const response = await fetch(`${wp.url}/wp-json/secure-message/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text for the assertion message
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  async function createUser(login: string, role = 'subscriber'): Promise<void> {
    const password = randomBytes(12).toString('hex');
    const made = await wp.phpJson<{ id: number; app: string }>(`
      $id = wp_insert_user( array( 'user_login' => '${login}', 'user_pass' => '${password}', 'user_email' => '${login}@example.com', 'role' => '${role}' ) );
      if ( is_wp_error( $id ) ) { fwrite( STDERR, $id->get_error_message() ); exit( 1 ); }
      [ $app ] = WP_Application_Passwords::create_new_application_password( $id, array( 'name' => 'tests' ) );
      echo wp_json_encode( array( 'id' => $id, 'app' => $app ) );`);
    users[login] = { id: made.id, login, password, appPassword: made.app };
  }

  async function settings(values: Record<string, unknown>): Promise<void> {
    await wp.php(`update_option( 'secure_message_settings', array_merge( Secure_Message_Settings::all(), json_decode( '${JSON.stringify(values).replace(/'/g, "\\'")}', true ) ) );`);
  }

  function uuidOf(login: string): Promise<string | null> {
    return wp.phpJson<string | null>(`echo wp_json_encode( Secure_Message_Directory::uuid( ${users[login]!.id} ) );`);
  }

  async function rawDevices(login: string): Promise<string | null> {
    const rows = await db.sql<{ meta_value: string }>("SELECT meta_value FROM wp_usermeta WHERE user_id = ? AND meta_key = 'devices'", [users[login]!.id]);
    return rows[0]?.meta_value ?? null;
  }

  /** `secret` null: a client that sends none. */
  function deviceClient(device: DeviceAnswer, secret: string | null = device.secret): SecureMessageClient {
    // `secret` is SPEC §10's option of the client; typed loosely so this file also compiles against a client without it.
    const options: ClientOptions & { secret?: string } = { server: server.url, key: device.key, retry: { attempts: 1 } };
    if (secret !== null) options.secret = secret;
    return new SecureMessageClient(options);
  }

  async function pull(): Promise<void> {
    const out = await wp.php(`$r = Secure_Message_Cron::pull(); echo is_wp_error( $r ) ? 'error: ' . $r->get_error_message() : 'stored ' . $r;`);
    assert.match(out, /^stored \d+$/, out);
  }

  before(async () => {
    data = makeDataDir();
    // Installed from the zip `npm run build:plugin` writes, as a site owner would (the folder itself without unzip).
    const zip = join(data.dir, 'secure-message-server.zip');
    const built = run(process.execPath, [join(REPO_ROOT, 'scripts/build-plugin.mjs'), '--out', zip]);
    assert.equal(built.status, 0, built.stderr);
    const fromZip = findBinary('unzip') !== null;
    if (!fromZip) process.stderr.write('note: unzip is missing; the plugin folder is used in place of the zip\n');
    db = await startMariadbServer();
    wp = await startWordPress(db, fromZip ? { pluginZip: zip } : { plugin: PLUGIN_DIR });
    serverEnv = { ...db.env, DATA_DIR: data.dir, API_TOKENS: `site:${apiToken}`, DIRECTORY_RECHECK_SECONDS: '0' };
    server = await startServerProcess(serverEnv);
    // Records every secure_message_received, so tests can count how often it fired.
    writeFileSync(
      join(wp.dir, 'wp-content', 'mu-plugins', 'test-received.php'),
      "<?php\nadd_action( 'secure_message_received', static function ( $record ) { global $wpdb; $wpdb->query( $wpdb->prepare( 'INSERT INTO test_received (message_id) VALUES (%s)', $record['id'] ) ); } );\n",
    );
    await db.sql('CREATE TABLE test_received (n int auto_increment primary key, message_id char(64) not null)');
  });

  after(async () => {
    await server?.stop();
    await wp?.close();
    await db?.close();
    data?.remove();
  });

  test('activation gives existing users a UUID (v4, all different); registration gives new users one', async () => {
    const early = await wp.phpJson<number>(`echo wp_json_encode( wp_insert_user( array( 'user_login' => 'early', 'user_pass' => 'x-early-pass', 'user_email' => 'early@example.com' ) ) );`);
    assert.equal(await wp.phpJson(`echo wp_json_encode( get_user_meta( ${early}, 'uuid', true ) );`), '', 'no UUID before the plugin is active');
    const activated = await wp.php(`require_once ABSPATH . 'wp-admin/includes/plugin.php'; $r = activate_plugin( '${PLUGIN_FILE}' ); echo is_wp_error( $r ) ? $r->get_error_message() : 'active';`);
    assert.equal(activated, 'active');
    await settings({ server_url: server.url, api_token: apiToken, delivery: 'cron' });
    await createUser('alice');
    await createUser('bob');
    await createUser('boss', 'administrator');
    const rows = await db.sql<{ user_id: string; meta_value: string }>("SELECT user_id, meta_value FROM wp_usermeta WHERE meta_key = 'uuid' ORDER BY user_id");
    const ids = rows.map((row) => Number(row.user_id));
    assert.deepEqual(ids, [1, early, users.alice!.id, users.bob!.id, users.boss!.id]);
    for (const row of rows) assert.match(row.meta_value, UUID_V4);
    assert.equal(new Set(rows.map((row) => row.meta_value)).size, rows.length);
    const tables = await db.sql("SHOW TABLES LIKE 'wp_secure_messages'");
    assert.equal(tables.length, 1);
  });

  let phone: DeviceAnswer;
  let tablet: DeviceAnswer;

  test('POST /devices with an Application Password: id, name, key and a secret of which only the SHA-256 is stored', async () => {
    const created = await rest('alice', 'POST', '/devices', { name: 'Alice phone' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    phone = created.body as DeviceAnswer;
    assert.deepEqual(Object.keys(phone).sort(), ['id', 'key', 'name', 'secret']);
    assert.match(phone.id, /^[A-Za-z0-9._:-]{1,64}$/);
    assert.equal(phone.key, `${await uuidOf('alice')}${phone.id}`);
    assert.match(phone.secret, SECRET_GRAMMAR);
    assert.equal(Buffer.from(phone.secret, 'base64url').length, 32);
    assert.match(created.headers.get('cache-control') ?? '', /no-store|no-cache/, 'the answer with the secret is not cacheable');
    const raw = (await rawDevices('alice'))!;
    assert.ok(!raw.includes(phone.secret), 'the secret itself is stored nowhere');
    const sha = createHash('sha256').update(phone.secret, 'utf8').digest('hex');
    assert.ok(raw.includes(`s:13:"secret_sha256";s:64:"${sha}"`), raw);
    tablet = (await rest('alice', 'POST', '/devices', { name: 'Alice tablet' })).body as DeviceAnswer;
    assert.notEqual(tablet.id, phone.id);
    assert.notEqual(tablet.secret, phone.secret);
    const listed = await rest('alice', 'GET', '/devices');
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (listed.body as Listed[]).map(({ id, name, status, key }) => ({ id, name, status, key })),
      [
        { id: phone.id, name: 'Alice phone', status: 'off', key: phone.key },
        { id: tablet.id, name: 'Alice tablet', status: 'off', key: tablet.key },
      ],
    );
    assert.ok(!JSON.stringify(listed.body).includes(phone.secret));
    assert.equal((await rest('alice', 'POST', '/devices', { name: '' })).status, 400);
    assert.equal((await rest('alice', 'POST', '/devices', {})).status, 400);
  });

  test("another user cannot see or change the first user's devices or messages (403); nobody logged in is 401", async () => {
    const alice = users.alice!.id;
    for (const [method, path, body] of [
      ['GET', `/devices?user=${alice}`],
      ['POST', `/devices?user=${alice}`, { name: 'intruder' }],
      ['PATCH', `/devices/${phone.id}?user=${alice}`, { name: 'pwned' }],
      ['DELETE', `/devices/${phone.id}?user=${alice}`],
      ['GET', `/messages?user=${alice}`],
    ] as Array<[string, string, unknown?]>) {
      const answer = await rest('bob', method, path, body);
      assert.equal(answer.status, 403, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal((await rest(null, method, path, body)).status, 401, `${method} ${path} without credentials`);
    }
    // Bob's own list is his, and Alice's device is not in it to delete.
    assert.deepEqual((await rest('bob', 'GET', '/devices')).body, []);
    assert.equal((await rest('bob', 'DELETE', `/devices/${phone.id}`)).status, 404);
    // An administrator (edit_users) may.
    const asAdmin = await rest('boss', 'GET', `/devices?user=${alice}`);
    assert.equal(asAdmin.status, 200);
    assert.equal((asAdmin.body as Listed[]).length, 2);
    assert.equal((await rest('alice', 'GET', '/devices')).body.length, 2, 'nothing changed');
  });

  const sent: string[] = [];

  test('a device whose entry holds secret_sha256 cannot log in without its secret, or with another (SPEC §10)', async () => {
    await assert.rejects(deviceClient(phone, null).auth(), NotFoundError, 'a device with secret_sha256 needs its secret');
    await assert.rejects(deviceClient(phone, 'x'.repeat(43)).auth(), NotFoundError);
  });

  test('the device logs in with key and secret, sends three messages; the cron pull brings all three', async () => {
    const client = deviceClient(phone);
    const session = await client.auth();
    assert.equal(session.name, 'Alice phone');
    const listed = (await rest('alice', 'GET', '/devices')).body as Listed[];
    assert.equal(listed.find((d) => d.id === phone.id)?.status, 'on', 'the status the server wrote, read past any cache');
    for (const text of ['first', 'second ✓', 'third']) {
      const result = await client.send(JSON.stringify({ text }), { minute: 29000000 + sent.length });
      assert.equal(result.duplicate, false);
      sent.push(result.id);
    }
    await pull();
    const messages = await rest('alice', 'GET', '/messages');
    assert.equal(messages.status, 200);
    const records = messages.body as MessageRecord[];
    assert.deepEqual(records.map((r) => r.id).sort(), [...sent].sort());
    assert.deepEqual(records.map((r) => JSON.parse(r.payload).text).sort(), ['first', 'second ✓', 'third']);
    for (const record of records) {
      assert.equal(record.user_id, await uuidOf('alice'));
      assert.equal(record.device_id, phone.id);
      assert.equal(record.device_name, 'Alice phone');
    }
    const times = records.map((r) => r.received_at);
    assert.deepEqual([...times].sort().reverse(), times, 'newest first');
    const fired = await db.sql<{ message_id: string }>('SELECT message_id FROM test_received');
    assert.deepEqual(fired.map((r) => r.message_id).sort(), [...sent].sort(), 'secure_message_received fired once per message');
    // A second run finds nothing new; the bookmark moved on the server.
    await pull();
    assert.equal((await db.sql('SELECT * FROM test_received')).length, 3);
    const consumer = await fetch(`${server.url}/v1/consumers/wordpress`, { headers: { authorization: `Bearer ${apiToken}` } });
    assert.equal(((await consumer.json()) as { lag: number }).lag, 0);
    // Paging and the device filter.
    const page = await rest('alice', 'GET', '/messages?per_page=2&page=2');
    assert.equal(page.headers.get('x-wp-total'), '3');
    assert.equal(page.headers.get('x-wp-totalpages'), '2');
    assert.equal((page.body as MessageRecord[]).length, 1);
    assert.deepEqual((await rest('alice', 'GET', `/messages?device=${tablet.id}`)).body, []);
    assert.deepEqual((await rest('bob', 'GET', '/messages')).body, []);
    assert.equal(((await rest('boss', 'GET', `/messages?user=${users.alice!.id}`)).body as MessageRecord[]).length, 3);
  });

  test('a rename while the device logs in and out loses neither change (both under the row lock)', async () => {
    const client = deviceClient(tablet);
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 6; i++) {
      work.push(rest('alice', 'PATCH', `/devices/${phone.id}`, { name: `Phone ${i}` }));
      work.push(i % 2 === 0 ? client.auth() : client.logout());
    }
    await Promise.all(work);
    await client.auth();
    const renamed = await rest('alice', 'PATCH', `/devices/${phone.id}`, { name: 'Alice phone (renamed)' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    const listed = (await rest('alice', 'GET', '/devices')).body as Listed[];
    assert.deepEqual(
      listed.map(({ id, name, status }) => ({ id, name, status })),
      [
        { id: phone.id, name: 'Alice phone (renamed)', status: 'on' },
        { id: tablet.id, name: 'Alice tablet', status: 'on' },
      ],
    );
    assert.ok((await rawDevices('alice'))!.includes(createHash('sha256').update(tablet.secret).digest('hex')), 'the secret hash survived');
  });

  test('through the signed webhook: the server pushes three messages, each stored once; a forged or stale one is refused', async () => {
    await server.stop();
    server = await startServerProcess({ ...serverEnv, WEBHOOK_URL: `${wp.url}/wp-json/secure-message/v1/webhook`, WEBHOOK_SECRET: webhookSecret });
    await settings({ server_url: server.url, delivery: 'webhook', webhook_secret: webhookSecret });
    const client = deviceClient(tablet);
    const ids: string[] = [];
    for (const text of ['hook one', 'hook two', 'hook three']) ids.push((await client.send(JSON.stringify({ text }), { minute: 29100000 + ids.length })).id);
    await waitUntil(
      async () => (await db.sql('SELECT 1 FROM wp_secure_messages WHERE device_id = ?', [tablet.id])).length === 3,
      30_000,
      () => `the webhook did not bring three messages:\n${wp.serverLog().slice(-2000)}`,
    );
    const rows = await db.sql<{ message_id: string; source: string }>('SELECT message_id, source FROM wp_secure_messages WHERE device_id = ?', [tablet.id]);
    assert.deepEqual(rows.map((r) => r.message_id).sort(), [...ids].sort());
    assert.deepEqual(new Set(rows.map((r) => r.source)), new Set(['webhook']));
    const api = (await rest('alice', 'GET', `/messages?device=${tablet.id}`)).body as MessageRecord[];
    assert.deepEqual(api.map((r) => JSON.parse(r.payload).text).sort(), ['hook one', 'hook three', 'hook two']);

    const url = `${wp.url}/wp-json/secure-message/v1/webhook`;
    const record = { id: 'f'.repeat(64), user_id: await uuidOf('alice'), device_id: tablet.id, device_name: 'Alice tablet', minute: 1, received_at: new Date().toISOString(), payload: 'forged' };
    const body = JSON.stringify({ type: 'message.stored', timestamp: new Date().toISOString(), data: record });
    const now = Math.floor(Date.now() / 1000);
    const post = (headers: Record<string, string>, payload = body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
    const forger = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
    assert.equal((await post({ 'webhook-id': record.id, 'webhook-timestamp': String(now), 'webhook-signature': forger.sign(record.id, new Date(now * 1000), body) })).status, 401, 'signed with another secret');
    assert.equal((await post({ 'webhook-id': record.id, 'webhook-timestamp': String(now) })).status, 401, 'unsigned');
    const genuine = new Webhook(webhookSecret);
    const stale = now - 3600;
    assert.equal((await post({ 'webhook-id': record.id, 'webhook-timestamp': String(stale), 'webhook-signature': genuine.sign(record.id, new Date(stale * 1000), body) })).status, 401, 'an hour old');
    const signed = { 'webhook-id': record.id, 'webhook-timestamp': String(now), 'webhook-signature': genuine.sign(record.id, new Date(now * 1000), body) };
    assert.equal((await post(signed, body.replace('forged', 'altered'))).status, 401, 'body changed after signing');
    assert.equal((await db.sql('SELECT 1 FROM wp_secure_messages WHERE message_id = ?', [record.id])).length, 0, 'nothing refused was stored');
    // A correctly signed delivery twice: stored once, the action fired once.
    const first = await post(signed);
    assert.equal(first.status, 200, await first.clone().text());
    assert.deepEqual(await first.json(), { message: 'stored' });
    assert.deepEqual(await (await post(signed)).json(), { message: 'duplicate' });
    assert.equal((await db.sql('SELECT 1 FROM test_received WHERE message_id = ?', [record.id])).length, 1);
  });

  test('removing a device ends its session at once: the next send is refused by the server', async () => {
    const client = deviceClient(phone);
    await client.auth();
    const removed = await rest('alice', 'DELETE', `/devices/${phone.id}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(removed.body, { id: phone.id, deleted: true, session_ended: true });
    await assert.rejects(client.send('after removal'), NotFoundError);
    assert.equal((await rest('alice', 'DELETE', `/devices/${phone.id}`)).status, 404);
    const listed = (await rest('alice', 'GET', '/devices')).body as Listed[];
    assert.deepEqual(listed.map((d) => d.id), [tablet.id]);
  });

  test('a device list in the list shape, with unset() holes, is edited in its shape', async () => {
    const bob = users.bob!.id;
    await wp.php(`update_user_meta( ${bob}, 'devices', array( 0 => array( 'id' => 'old-0', 'name' => 'Zero', 'status' => 'off', 'extra' => array( 1, 2.5, null ) ), 2 => array( 'id' => 'old-2', 'name' => 'Two', 'status' => 'off' ) ) );`);
    const added = await rest('bob', 'POST', '/devices', { name: 'Bob new' });
    assert.equal(added.status, 201);
    const value = await wp.phpJson<Array<Record<string, unknown>>>(`echo wp_json_encode( get_user_meta( ${bob}, 'devices', true ) );`);
    assert.ok(Array.isArray(value), 'still a list, renumbered');
    assert.deepEqual(value.map((d) => d.id), ['old-0', 'old-2', (added.body as DeviceAnswer).id]);
    assert.deepEqual(value[0], { id: 'old-0', name: 'Zero', status: 'off', extra: [1, 2.5, null] });
    // And the server reads the device the plugin added.
    const session = await deviceClient(added.body as DeviceAnswer).auth();
    assert.equal(session.name, 'Bob new');
  });

  describe('the profile screen in headless Chromium', { skip: skipWithoutChromium() }, () => {
    let context: BrowserContext;
    let page: Page;
    const profileDir = mkdtempSync(join(tmpdir(), 'sms-chromium-profile-'));
    const releaseProfile = trackFolder(profileDir);
    // Kept after the run, for a person to look at; the path is printed.
    const screenshots = mkdtempSync(join(tmpdir(), 'sms-wordpress-screens-'));

    before(async () => {
      const { chromium } = await import('playwright-core');
      context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      page = context.pages()[0] ?? (await context.newPage());
    });

    after(async () => {
      await context?.close();
      releaseProfile();
    });

    async function logIn(login: string): Promise<void> {
      await context.clearCookies();
      await page.goto(`${wp.url}/wp-login.php`);
      await page.fill('#user_login', login);
      await page.fill('#user_pass', users[login]!.password);
      await Promise.all([page.waitForURL(/wp-admin/), page.click('#wp-submit')]);
    }

    test('add a device, read key and secret once (and its QR code), reload: gone; rename; remove', async () => {
      await logIn('alice');
      await page.goto(`${wp.url}/wp-admin/profile.php`);
      await page.fill('#secure-message-new-name', 'Browser device');
      await page.click('.secure-message-add-button');
      await page.waitForSelector('.secure-message-reveal:not([hidden])');
      const key = (await page.textContent('.secure-message-key'))!;
      const secret = (await page.textContent('.secure-message-secret'))!;
      assert.ok(key.startsWith((await uuidOf('alice'))!), key);
      assert.match(secret, SECRET_GRAMMAR);
      const shot = join(screenshots, 'profile-new-device.png');
      await page.screenshot({ path: shot, fullPage: true });
      process.stdout.write(`screenshot of the profile screen with a new device: ${shot}\n`);
      if (findBinary('zbarimg') !== null) {
        const qrShot = join(screenshots, 'qr.png');
        await page.locator('.secure-message-qr').screenshot({ path: qrShot });
        const decoded = run('zbarimg', ['--quiet', '--raw', qrShot]);
        assert.equal(decoded.status, 0, decoded.stderr);
        assert.deepEqual(JSON.parse(decoded.stdout), { server: server.url, key, secret }, 'the QR code holds what the page shows');
      }
      // The device works with what the page showed.
      const deviceId = key.slice(36);
      const session = await deviceClient({ id: deviceId, name: 'Browser device', key, secret }).auth();
      assert.equal(session.name, 'Browser device');

      await page.reload();
      assert.equal(await page.isVisible('.secure-message-reveal'), false);
      assert.ok(!(await page.content()).includes(secret), 'the secret is gone after a reload');
      const row = page.locator(`tr[data-device="${deviceId}"]`);
      assert.equal(await row.locator('.secure-message-status').textContent(), 'logged in');

      await row.locator('.secure-message-name').fill('Renamed in the browser');
      await Promise.all([page.waitForEvent('load'), row.locator('.secure-message-rename').click()]);
      assert.equal(await page.locator(`tr[data-device="${deviceId}"] .secure-message-name`).inputValue(), 'Renamed in the browser');

      page.once('dialog', (dialog) => void dialog.accept());
      await Promise.all([page.waitForEvent('load'), page.locator(`tr[data-device="${deviceId}"] .secure-message-remove`).click()]);
      assert.equal(await page.locator(`tr[data-device="${deviceId}"]`).count(), 0);
      const listed = (await rest('alice', 'GET', '/devices')).body as Listed[];
      assert.ok(!listed.some((d) => d.id === deviceId));
      await page.screenshot({ path: join(screenshots, 'profile-after-remove.png'), fullPage: true });
    });

    test("an administrator sees another user's devices on that user's screen; settings: test connection calls the server", async () => {
      await logIn('boss');
      await page.goto(`${wp.url}/wp-admin/user-edit.php?user_id=${users.alice!.id}`);
      const names = await page.locator('.secure-message-device-table .secure-message-name').evaluateAll((inputs) => inputs.map((input) => (input as HTMLInputElement).value));
      assert.deepEqual(names, ['Alice tablet']);
      await page.goto(`${wp.url}/wp-admin/options-general.php?page=secure-message-settings`);
      await Promise.all([page.waitForURL(/secure_message_test=/), page.click('text=Test connection')]);
      const notice = (await page.textContent('.secure-message-test-result'))!;
      await page.screenshot({ path: join(screenshots, 'settings-test-connection.png'), fullPage: true });
      assert.match(notice, /Connected/, notice);
      await page.goto(`${wp.url}/wp-admin/admin.php?page=secure-message-messages`);
      const payloads = await page.locator('.secure-message-payload').allTextContents();
      assert.ok(payloads.some((text) => text.includes('hook one')), payloads.join('\n'));
      // CSV export, as an administrator downloads it.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Export all as CSV')]);
      const csvPath = join(screenshots, 'messages.csv');
      await download.saveAs(csvPath);
      const csv = (await import('node:fs')).readFileSync(csvPath, 'utf8').trim().split('\n');
      assert.equal(csv[0], 'id,wp_user,user_id,device_id,device_name,minute,received_at,payload');
      const stored = await db.sql<{ n: number }>('SELECT COUNT(*) AS n FROM wp_secure_messages');
      assert.equal(csv.length - 1, Number(stored[0]!.n));
      assert.ok(csv.some((line) => line.includes('hook two')));
      process.stdout.write(`screenshots: ${screenshots}\n`);
    });
  });

  test('retention: the daily job deletes messages older than the setting, and only those', async () => {
    const before = Number((await db.sql<{ n: number }>('SELECT COUNT(*) AS n FROM wp_secure_messages'))[0]!.n);
    assert.ok(before > 0);
    await db.sql("UPDATE wp_secure_messages SET received_gmt = '2000-01-01 00:00:00' WHERE device_id = ?", [tablet.id]);
    const old = Number((await db.sql<{ n: number }>('SELECT COUNT(*) AS n FROM wp_secure_messages WHERE device_id = ?', [tablet.id]))[0]!.n);
    await settings({ retention_days: 0 });
    assert.equal(await wp.php('echo Secure_Message_Cron::purge();'), '0', '0 keeps everything');
    await settings({ retention_days: 30 });
    assert.equal(await wp.php('echo Secure_Message_Cron::purge();'), String(old));
    assert.equal(Number((await db.sql<{ n: number }>('SELECT COUNT(*) AS n FROM wp_secure_messages'))[0]!.n), before - old);
  });

  test('uninstall removes the options and the table, never the UUIDs or the devices', async () => {
    const before = await db.sql("SELECT COUNT(*) AS n FROM wp_usermeta WHERE meta_key IN ('uuid', 'devices')");
    await wp.php(`require_once ABSPATH . 'wp-admin/includes/plugin.php'; deactivate_plugins( '${PLUGIN_FILE}' ); define( 'WP_UNINSTALL_PLUGIN', '${PLUGIN_FILE}' ); include WP_PLUGIN_DIR . '/secure-message-server/uninstall.php'; echo 'gone';`);
    assert.equal((await db.sql("SHOW TABLES LIKE 'wp_secure_messages'")).length, 0);
    assert.equal((await db.sql("SELECT 1 FROM wp_options WHERE option_name LIKE 'secure\\_message\\_%'")).length, 0);
    assert.deepEqual(await db.sql("SELECT COUNT(*) AS n FROM wp_usermeta WHERE meta_key IN ('uuid', 'devices')"), before);
    await sleep(0);
  });
});
