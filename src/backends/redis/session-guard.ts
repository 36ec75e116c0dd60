/**
 * SPEC §10/§11 per-session state in Redis (src/store/session-guard.ts): one hash per client key
 * in REDIS_AUTH_DB (keys.ts: sessionGuard), beside the session, with the session's expiry and
 * renewed with it. Each atomic step is one Lua script on that one key (scripts/, BullMQ-style
 * headers), so it holds across processes and instances and needs no cross-slot access.
 */
import { readFileSync } from 'node:fs';
import type { SessionGuardStore, SessionScope } from '../../store/session-guard.js';
import type { TtlSeconds } from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';

const BACKEND = 'redis';

function script(name: string): string {
  return readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8');
}

interface GuardCommands {
  claimContent(key: string, createdAt: string, fingerprint: string, id: string, ttl: number): Promise<string | null>;
  releaseContent(key: string, createdAt: string, fingerprint: string, id: string): Promise<number>;
  countInvalid(key: string, createdAt: string, ttl: number): Promise<number>;
}

/** Defines the scripts on a connection once (ioredis sends EVALSHA, loading a script when Redis lacks it). */
function guardCommands(client: RedisClient): GuardCommands {
  const commands = client as unknown as Partial<GuardCommands>;
  if (commands.claimContent === undefined) {
    client.defineCommand('claimContent', { numberOfKeys: 1, lua: script('claimContent-1') });
    client.defineCommand('releaseContent', { numberOfKeys: 1, lua: script('releaseContent-1') });
    client.defineCommand('countInvalid', { numberOfKeys: 1, lua: script('countInvalid-1') });
  }
  return client as unknown as GuardCommands;
}

export class RedisSessionGuardStore implements SessionGuardStore {
  private readonly commands: GuardCommands;

  /** `client` is the REDIS_AUTH_DB connection (the sessions'). */
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.commands = guardCommands(client);
  }

  claimContent(scope: SessionScope, fingerprint: string, id: string, ttl: TtlSeconds): Promise<string | null> {
    return orUnavailable(BACKEND, async () => {
      const first = await this.commands.claimContent(this.keys.sessionGuard(scope.clientKey), scope.createdAt, fingerprint, id, ttl);
      return typeof first === 'string' ? first : null;
    });
  }

  releaseContent(scope: SessionScope, fingerprint: string, id: string): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      await this.commands.releaseContent(this.keys.sessionGuard(scope.clientKey), scope.createdAt, fingerprint, id);
    });
  }

  countInvalid(scope: SessionScope, ttl: TtlSeconds): Promise<number> {
    return orUnavailable(BACKEND, async () => Number(await this.commands.countInvalid(this.keys.sessionGuard(scope.clientKey), scope.createdAt, ttl)));
  }

  renew(clientKey: string, ttl: TtlSeconds): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      // On a missing key both are no-ops: a session that never needed state costs nothing more.
      if (ttl > 0) await this.client.expire(this.keys.sessionGuard(clientKey), ttl);
      else await this.client.persist(this.keys.sessionGuard(clientKey));
    });
  }

  forget(clientKey: string): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      await this.client.del(this.keys.sessionGuard(clientKey));
    });
  }
}
