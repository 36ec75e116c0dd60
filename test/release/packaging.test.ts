/**
 * Issue 14, packaging: no Docker engine runs here, so the Dockerfile and compose.yaml are read
 * with real parsers (dockerfile-ast, yaml) and checked for what the image and the stack must be;
 * the systemd unit is checked by `systemd-analyze verify` where systemd is installed. The
 * image's CMD itself is run from a production install in production-install.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { parse as parseYaml } from 'yaml';
import { dockerCmd } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/server-process.js';

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const stages = dockerfile.getFROMs();
  const runtimeStart = stages.at(-1)!.getRange().start.line;
  const runtime = dockerfile.getInstructions().filter((i) => i.getRange().start.line >= runtimeStart);
  const argsOf = (keyword: string) => runtime.filter((i) => i.getKeyword() === keyword).map((i) => i.getArguments().map((a) => a.getValue()));

  test('parses with no unknown instruction', () => {
    const known = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
    for (const instruction of dockerfile.getInstructions()) assert.ok(known.has(instruction.getKeyword()), instruction.getKeyword());
  });

  test('is multi-stage on Node.js 24 slim, and every COPY --from names an earlier stage', () => {
    assert.ok(stages.length >= 2);
    for (const stage of stages) assert.deepEqual([stage.getImageName(), stage.getImageTag()], ['node', '24-slim']);
    const names = stages.map((s) => s.getBuildStage());
    for (const copy of dockerfile.getCOPYs()) {
      const from = copy.getFromFlag()?.getValue();
      if (from !== undefined) assert.ok(names.slice(0, -1).includes(from), `COPY --from=${from}`);
      else for (const source of copy.getArguments().slice(0, -1)) assert.ok(existsSync(join(REPO_ROOT, source.getValue())), `COPY ${source.getValue()} exists`);
    }
  });

  test('the runtime runs as a non-root user, with a HEALTHCHECK, the data folder a volume, the production install', () => {
    const users = argsOf('USER');
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0]![0]!, /^(root|0)(:|$)/);
    assert.equal(dockerfile.getHEALTHCHECKs().length, 1);
    assert.match(dockerfile.getHEALTHCHECKs()[0]!.getRawArgumentsContent() ?? '', /\/healthz/);
    assert.deepEqual(argsOf('VOLUME'), [['["/data"]']]);
    assert.ok(runtime.some((i) => i.getKeyword() === 'ENV' && /DATA_DIR=\/data/.test(i.getRawArgumentsContent() ?? '')));
    assert.match(text, /npm ci --omit=dev/);
    assert.deepEqual(dockerCmd(), ['node', 'dist/server/main.js']);
    assert.ok(existsSync(join(REPO_ROOT, '.dockerignore')));
  });
});

describe('compose.yaml', () => {
  const compose = parseYaml(readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { image?: string; build?: string; environment?: Record<string, string>; volumes?: string[]; depends_on?: Record<string, unknown>; ports?: string[] }>;
    volumes: Record<string, unknown>;
  };

  test('has the server, Redis, MariaDB and WordPress with the plugin folder mounted', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['db', 'redis', 'server', 'wordpress']);
    const { server, wordpress } = compose.services;
    assert.equal(server!.build, '.');
    assert.ok(server!.volumes!.some((v) => v.endsWith(':/data')), 'the data folder is a volume');
    assert.deepEqual(Object.keys(server!.depends_on!).sort(), ['db', 'redis']);
    assert.equal(server!.environment!.DB_HOST, 'db');
    assert.equal(server!.environment!.REDIS_HOST, 'redis');
    assert.ok(server!.environment!.ADMIN_TOKEN, 'the operator listener off loopback has a token');
    assert.ok(server!.ports!.includes('127.0.0.1:8001:8001'), 'the operator port only on the host loopback');
    assert.ok(
      wordpress!.volumes!.some((v) => v.startsWith('./wordpress-plugin/secure-message-server:/var/www/html/wp-content/plugins/secure-message-server')),
      'the plugin folder is mounted',
    );
    for (const volume of ['server-data', 'redis-data', 'db-data']) assert.ok(volume in compose.volumes, volume);
  });

  test('every setting it gives the server is one the server reads', () => {
    const sources = ['src/config/config.ts', 'src/operator/settings.ts'].map((f) => readFileSync(join(REPO_ROOT, f), 'utf8')).join('\n');
    // API_TOKENS belongs to the consumer API (SPEC §9), built in parallel.
    for (const name of Object.keys(compose.services.server!.environment!)) {
      if (name === 'API_TOKENS') continue;
      assert.ok(sources.includes(`'${name}'`), `${name} is read by the configuration`);
    }
  });
});

describe('systemd unit', () => {
  const unitPath = join(REPO_ROOT, 'deploy/systemd/secure-message-server.service');
  const unit = readFileSync(unitPath, 'utf8');
  const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  if (!hasAnalyze) process.stderr.write('SKIPPED: systemd-analyze verify: systemd-analyze is not installed\n');

  test('has the environment file, the hardening and the image\'s command', () => {
    for (const line of ['EnvironmentFile=/etc/secure-message-server/env', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'DynamicUser=yes', 'StateDirectory=secure-message-server', 'RestartPreventExitStatus=2']) {
      assert.ok(unit.split('\n').includes(line), line);
    }
    const exec = /^ExecStart=(\S+) (.+)$/m.exec(unit);
    assert.ok(exec);
    assert.deepEqual(exec[2]!.split(' '), dockerCmd().slice(1));
  });

  test('systemd-analyze verify accepts it', { skip: !hasAnalyze ? 'systemd-analyze is not installed' : false }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-unit-'));
    try {
      copyFileSync(unitPath, join(dir, 'secure-message-server.service'));
      const result = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'secure-message-server.service')], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr + result.stdout);
      assert.equal(result.stderr.trim(), '', result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
