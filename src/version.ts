/** The server's version: package.json's, found from this file in src/ and in dist/server/ alike. */
import { existsSync, readFileSync } from 'node:fs';

function findVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    const url = new URL(relative, import.meta.url);
    if (!existsSync(url)) continue;
    const parsed = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (parsed.name === 'secure-message-server' && typeof parsed.version === 'string') return parsed.version;
  }
  return '0.0.0';
}

export const SERVER_VERSION = findVersion();
