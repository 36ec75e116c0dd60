/** SPEC §13 settings: REDIS_SENTINELS / REDIS_SENTINEL_NAME / REDIS_SENTINEL_PASSWORD, REDIS_WAIT_*. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../../src/config/config.js';

const refused = (env: Record<string, string>, variable: string): void => {
  assert.throws(() => readConfig(env), (error: unknown) => error instanceof ConfigError && error.message.includes(variable));
};

describe('Redis Sentinel and WAIT settings', () => {
  test('REDIS_SENTINELS alone switches the store to Redis, with the sentinels, the name and both databases', () => {
    const config = readConfig({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'sms', REDIS_PASSWORD: 'data-pw' });
    assert.deepEqual(config.redis?.sentinel, {
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'sms',
      password: undefined,
    });
    assert.equal(config.redis?.password, 'data-pw');
    assert.equal(config.redis?.mainDb, 1);
    assert.equal(config.redis?.authDb, 2);
    assert.equal(config.redis?.wait, undefined, 'no WAIT by default');
  });

  test('the sentinels may have a password of their own', () => {
    const config = readConfig({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'sms', REDIS_SENTINEL_PASSWORD: 'sentinel-pw' });
    assert.equal(config.redis?.sentinel?.password, 'sentinel-pw');
  });

  test('bad Sentinel settings stop start-up naming the variable', () => {
    refused({ REDIS_SENTINELS: 'a:1' }, 'REDIS_SENTINEL_NAME');
    refused({ REDIS_SENTINEL_NAME: 'sms' }, 'REDIS_SENTINEL_NAME');
    refused({ REDIS_SENTINELS: 'a', REDIS_SENTINEL_NAME: 'sms' }, 'REDIS_SENTINELS');
    refused({ REDIS_SENTINELS: 'a:0', REDIS_SENTINEL_NAME: 'sms' }, 'REDIS_SENTINELS');
    refused({ REDIS_SENTINELS: 'a:70000', REDIS_SENTINEL_NAME: 'sms' }, 'REDIS_SENTINELS');
    refused({ REDIS_SENTINELS: ' , ', REDIS_SENTINEL_NAME: 'sms' }, 'REDIS_SENTINELS');
    refused({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'two words' }, 'REDIS_SENTINEL_NAME');
    refused({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'sms', REDIS_URL: 'redis://h:1' }, 'REDIS_URL');
  });

  test('REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT_MS: read, bounded, never WAIT forever', () => {
    assert.deepEqual(readConfig({ REDIS_HOST: 'h', REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '250' }).redis?.wait, { replicas: 2, timeoutMs: 250 });
    assert.deepEqual(readConfig({ REDIS_HOST: 'h', REDIS_WAIT_REPLICAS: '1' }).redis?.wait, { replicas: 1, timeoutMs: 1000 });
    refused({ REDIS_HOST: 'h', REDIS_WAIT_TIMEOUT_MS: '0' }, 'REDIS_WAIT_TIMEOUT_MS');
    refused({ REDIS_HOST: 'h', REDIS_WAIT_TIMEOUT_MS: '10001' }, 'REDIS_WAIT_TIMEOUT_MS');
    refused({ REDIS_HOST: 'h', REDIS_WAIT_REPLICAS: '-1' }, 'REDIS_WAIT_REPLICAS');
    refused({ REDIS_HOST: 'h', REDIS_WAIT_REPLICAS: '65' }, 'REDIS_WAIT_REPLICAS');
  });
});
