/**
 * Debian's Chromium for the browser tests, launched the way this machine needs: headless, no
 * sandbox (root), and without the background networking whose connections the closed network refuses.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** REQUIRE_BROWSER=1 (set by .ci/run) turns a missing Chromium from a skip into a failure. */
export const BROWSER_REQUIRED = process.env.REQUIRE_BROWSER === '1';
export const chromiumInstalled = (): boolean => existsSync(CHROMIUM);
