/**
 * A real WordPress for tests: Debian's copy (/usr/share/wordpress) copied into a temporary
 * folder with a wp-config.php of our own, installed with wp_install() from php-cli on the
 * test's MariaDB, served by `php -S` on a free loopback port. WordPress never reaches outside
 * the machine (WP_HTTP_BLOCK_EXTERNAL) and sends no mail.
 *
 *   const db = await startMariadbServer();
 *   const wp = await startWordPress(db, { plugin: PLUGIN_DIR });
 *   await wp.php('echo get_bloginfo("name");');   // PHP with WordPress loaded, as a cron run would
 *   await wp.close();
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MariadbServer } from './mariadb-server.js';
import { findBinary, freePort, readLogFile, serverProcess, skipUnlessInstalled, trackFolder } from './real-backends.js';

export const WORDPRESS_SOURCE = '/usr/share/wordpress';
const PHP_INSTALL = "Debian's php-cli and php-mysql (apt-get install php-cli php-mysql)";

/** The `skip` option for suites that need php-cli with mysqli and Debian's WordPress. */
export function skipWithoutWordPress(suites: string): string | false {
  const missing = [];
  if (findBinary('php') === null) missing.push({ binary: 'php', install: PHP_INSTALL });
  else if (!/^mysqli$/im.test(spawnSync('php', ['-m'], { encoding: 'utf8' }).stdout ?? '')) missing.push({ binary: 'php mysqli', install: PHP_INSTALL });
  if (findBinary('php') !== null && spawnSync('php', ['-r', `exit(is_file('${WORDPRESS_SOURCE}/wp-settings.php') ? 0 : 1);`]).status !== 0) {
    missing.push({ binary: `${WORDPRESS_SOURCE}/wp-settings.php`, install: "Debian's wordpress (apt-get install wordpress)" });
  }
  return skipUnlessInstalled(suites, missing);
}

export interface WordPressOptions {
  /** A plugin folder to put into wp-content/plugins (symlinked), not yet activated. */
  plugin?: string;
  /** A plugin zip to unpack into wp-content/plugins, as a site owner's upload would (needs unzip). */
  pluginZip?: string;
  /** The plugin's folder name under wp-content/plugins (default: the folder's own name). */
  pluginSlug?: string;
}

export interface WordPress {
  url: string;
  dir: string;
  admin: { login: string; password: string };
  /** Runs PHP with WordPress loaded (wp-load.php) as php-cli; returns standard output; throws with stderr on failure. */
  php(code: string): Promise<string>;
  /** php() whose code echoes JSON; returns it parsed. */
  phpJson<T = unknown>(code: string): Promise<T>;
  /** The PHP errors WordPress logged (WP_DEBUG_LOG). */
  debugLog(): string;
  /** php -S's own log. */
  serverLog(): string;
  close(): Promise<void>;
}

function phpString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function startWordPress(db: MariadbServer, options: WordPressOptions = {}): Promise<WordPress> {
  const dir = mkdtempSync(join(tmpdir(), 'sms-wordpress-'));
  const removeDir = trackFolder(dir);
  const site = join(dir, 'site');
  cpSync(WORDPRESS_SOURCE, site, { recursive: true, dereference: true, filter: (source) => source !== join(WORDPRESS_SOURCE, 'wp-config.php') });
  mkdirSync(join(site, 'wp-content', 'mu-plugins'), { recursive: true });
  mkdirSync(join(site, 'wp-content', 'uploads'), { recursive: true });
  if (options.plugin !== undefined) {
    symlinkSync(options.plugin, join(site, 'wp-content', 'plugins', options.pluginSlug ?? options.plugin.split('/').filter(Boolean).pop()!));
  }
  if (options.pluginZip !== undefined) {
    const unpacked = spawnSync('unzip', ['-q', options.pluginZip, '-d', join(site, 'wp-content', 'plugins')], { encoding: 'utf8' });
    if (unpacked.status !== 0) {
      removeDir();
      throw new Error(`unzip of ${options.pluginZip} failed: ${unpacked.stderr ?? unpacked.error}`);
    }
  }
  // No mail server here: wp_mail() succeeds without sending.
  writeFileSync(join(site, 'wp-content', 'mu-plugins', 'test-no-mail.php'), "<?php\nadd_filter( 'pre_wp_mail', '__return_true' );\n");

  const debugLog = join(dir, 'debug.log');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dbUser = 'wpsite';
  const dbPassword = randomBytes(12).toString('hex');
  // WordPress needs the whole database (it creates its tables); the server keeps its narrow grant.
  await db.sql(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [dbUser, dbPassword]);
  await db.sql(`GRANT ALL ON \`${db.database}\`.* TO ?@'127.0.0.1'`, [dbUser]);
  // wp_install() refuses a database that holds some of its tables: the helper's (empty) usermeta
  // goes and WordPress makes its own, of the same definition. The server's table grant stays.
  await db.sql(`DROP TABLE IF EXISTS \`${db.tablePrefix}usermeta\``);

  const salts = ['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT']
    .map((name) => `define( '${name}', '${randomBytes(32).toString('hex')}' );`)
    .join('\n');
  writeFileSync(
    join(site, 'wp-config.php'),
    `<?php
define( 'DB_NAME', ${phpString(db.database)} );
define( 'DB_USER', ${phpString(dbUser)} );
define( 'DB_PASSWORD', ${phpString(dbPassword)} );
define( 'DB_HOST', '127.0.0.1:${db.port}' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
$table_prefix = ${phpString(db.tablePrefix)};
${salts}
define( 'WP_HOME', '${url}' );
define( 'WP_SITEURL', '${url}' );
// Application Passwords over plain http need a local environment.
define( 'WP_ENVIRONMENT_TYPE', 'local' );
// Tests run cron themselves; a loopback spawn would only race them.
define( 'DISABLE_WP_CRON', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', ${phpString(debugLog)} );
define( 'WP_DEBUG_DISPLAY', false );
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
`,
  );

  const run = (code: string, installing = false): Promise<string> =>
    new Promise((resolve, reject) => {
      const script = `<?php
$_SERVER['HTTP_HOST'] = '127.0.0.1:${port}';
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
${installing ? "define( 'WP_INSTALLING', true );" : ''}
require ${phpString(join(site, 'wp-load.php'))};
${code}
`;
      const file = join(dir, `run-${randomBytes(6).toString('hex')}.php`);
      writeFileSync(file, script);
      const child = spawn('php', ['-d', 'display_errors=stderr', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('close', (status) => {
        if (status === 0) resolve(out);
        else reject(new Error(`php failed (${status}):\n${err}\n${out.replace(/<style[\s\S]*<\/style>/, '')}\n--- debug.log:\n${readLogFile(debugLog).split('\n').filter((line) => !line.includes('PHP Deprecated')).join('\n').slice(-3000)}\n--- code:\n${code}`));
      });
    });

  const admin = { login: 'admin', password: randomBytes(12).toString('hex') };
  const installed = await run(`
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install( 'Secure Message test site', ${phpString(admin.login)}, 'admin@example.com', false, '', ${phpString(admin.password)} );
update_option( 'permalink_structure', '/%postname%/' );
flush_rewrite_rules();
echo 'installed';
`, true).catch(async (error: unknown) => {
    removeDir();
    throw error;
  });
  if (!installed.endsWith('installed')) {
    removeDir();
    throw new Error(`wp_install did not finish:\n${installed.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').slice(-2000)}`);
  }

  const serverLogPath = join(dir, 'php-server.log');
  const lifecycle = serverProcess({
    binary: 'sh',
    // One process: requests queue, which is all a test needs (nothing WordPress asks of the server calls back).
    args: ['-c', `exec php -S 127.0.0.1:${port} -t ${JSON.stringify(site)} >>${JSON.stringify(serverLogPath)} 2>&1`],
    description: `php -S on port ${port}`,
    ready: async () => (await fetch(`${url}/wp-login.php`)).status === 200,
    readLog: () => `${readLogFile(serverLogPath).split('\n').slice(-20).join('\n')}\n--- WordPress debug.log:\n${readLogFile(debugLog)}`,
    timeoutMs: 20_000,
  });
  await lifecycle.start().catch((error: unknown) => {
    // serverProcess has killed php -S; its folder goes too.
    removeDir();
    throw error;
  });

  return {
    url,
    dir: site,
    admin,
    php: run,
    async phpJson<T>(code: string): Promise<T> {
      const out = await run(code);
      try {
        return JSON.parse(out) as T;
      } catch {
        throw new Error(`php printed no JSON:\n${out}`);
      }
    },
    debugLog: () => readLogFile(debugLog),
    serverLog: () => readLogFile(serverLogPath),
    async close() {
      await lifecycle.stop();
      removeDir();
    },
  };
}
