/** The Dockerfile's CMD as an argv (exec form): the packaging test checks it, the production-install test runs it. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { REPO_ROOT } from './server-process.js';

export function dockerCmd(): string[] {
  const dockerfile = DockerfileParser.parse(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  const cmds = dockerfile.getCMDs();
  assert.equal(cmds.length, 1, 'one CMD');
  return JSON.parse(cmds[0]!.getRawArgumentsContent() ?? '') as string[];
}
