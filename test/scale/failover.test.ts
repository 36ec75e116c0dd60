/**
 * Failover drills (issue 13, SPEC §13) on a real Sentinel set: `kill -9` the primary in the
 * middle of a submit load from several devices, every request bounded by a client timeout.
 *
 * - REDIS_WAIT_REPLICAS=1: every id answered `delivered` is readable afterwards through the
 *   consumer API; requests in the gap get 503 with Retry-After, never a 500 or a hang. The
 *   promoted primary has no replica left, so it answers 503 until the killed node is back as its
 *   replica (the test plays the supervisor that restarts it): the promise working, not a fault.
 * - No WAIT: service resumes by itself once the sentinels have promoted the replica.
 *
 * The same on a Redis Cluster (3 primaries, 3 replicas), killing the primary of the shard that holds
 * the §9 log (every submit writes it), first without WAIT, then with REDIS_WAIT_REPLICAS=1.
 *
 * The seconds to recovery are printed (`DRILL …` lines), not asserted: timing here is noisy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../src/protocol/answers.js';
import { clientKey } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { API_PATH } from '../../src/protocol/request.js';
import { startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';
import { sleep, waitUntil } from '../helpers/real-backends.js';
import { skipWithoutSentinel, startSentinelSet, type SentinelSet, type SetMember } from '../helpers/redis-sentinel.js';
import { skipWithoutRedisCluster, type ClusterNode, type RedisCluster } from '../helpers/redis-cluster.js';
import { RedisKeys } from '../../src/backends/redis/keys.js';

const DEVICES = 4;
const IN_FLIGHT_PER_DEVICE = 2;
/** Delivered before the kill, so the drill starts under a running load. */
const DELIVERED_BEFORE_KILL = 40;
/** A request that takes longer is a hang: the drill fails on any. */
const CLIENT_TIMEOUT_MS = 15_000;
/** How long the WAIT drill watches the replica-less primary answer 503 before the supervisor acts. */
const GAP_OBSERVED_MS = 2000;
const RECOVERY_DEADLINE_MS = 60_000;
const WAIT_TIMEOUT_MS = 500;

interface Tally {
  delivered: Set<string>;
  duplicate: number;
  unavailable: number;
  /** 503 without a Retry-After header. */
  unavailableWithoutRetryAfter: number;
  /**
   * `not found` answers: the device's session is gone, so it authenticates again (as the client
   * library does). Without WAIT a session write the replica had not received is lost with the
   * primary, like a message: counted there; with WAIT it must not happen.
   */
  sessionLost: number;
  /** Any other status or body: a 500, a refusal that should not happen. */
  unexpected: string[];
  hung: number;
  /** Payloads answered 503, retried once at the end. */
  refused: Array<{ deviceId: string; text: string }>;
  /** When the first request sent after `since` was answered `delivered`. */
  firstDeliveredAfter(since: number): number | undefined;
}

interface Load {
  tally: Tally;
  stop(): Promise<void>;
}

const MINUTE = 29_100_000;

async function submit(fx: ConsumerFixture, deviceId: string, text: string): Promise<Response | 'hung'> {
  const message = encryptEnvelope(await fx.publicKey(deviceId), text, { enc: 'AES-GCM', minute: MINUTE });
  try {
    return await fetch(`${fx.server.url}${API_PATH}`, {
      method: 'POST',
      body: new URLSearchParams({ key: clientKey(deviceId), message }),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'hung';
    throw error;
  }
}

/** Submits fresh messages from every device, IN_FLIGHT_PER_DEVICE at a time, until stopped. */
function startLoad(fx: ConsumerFixture, label: string): Load {
  const deliveries: Array<{ sentAt: number; at: number }> = [];
  const tally: Tally = {
    delivered: new Set(),
    duplicate: 0,
    unavailable: 0,
    unavailableWithoutRetryAfter: 0,
    sessionLost: 0,
    unexpected: [],
    hung: 0,
    refused: [],
    firstDeliveredAfter: (since) => deliveries.find((d) => d.sentAt >= since)?.at,
  };
  let running = true;
  let counter = 0;
  const lane = async (deviceId: string): Promise<void> => {
    while (running) {
      const text = JSON.stringify({ drill: label, deviceId, n: counter++ });
      const sentAt = Date.now();
      const response = await submit(fx, deviceId, text).catch((error: unknown) => {
        // The server refused the connection: a crash of ours, never an answer a client should get.
        tally.unexpected.push(`no answer: ${String(error)}`);
        return 'failed' as const;
      });
      if (response === 'failed') {
        await sleep(100);
        continue;
      }
      if (response === 'hung') {
        tally.hung += 1;
        continue;
      }
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status === 200 && body.message === Message.delivered) {
        tally.delivered.add(String(body.id));
        deliveries.push({ sentAt, at: Date.now() });
      } else if (response.status === 200 && body.message === Message.duplicate) {
        tally.duplicate += 1;
      } else if (response.status === 503) {
        tally.unavailable += 1;
        if (!(Number(response.headers.get('retry-after')) > 0)) tally.unavailableWithoutRetryAfter += 1;
        tally.refused.push({ deviceId, text });
        // A client backs off on 503; a short pause keeps the drill from spinning.
        await sleep(50);
      } else if (response.status === 200 && body.message === Message.notFound) {
        tally.sessionLost += 1;
        fx.forgetKey(deviceId);
      } else {
        tally.unexpected.push(`${response.status} ${JSON.stringify(body)}`);
      }
    }
  };
  const lanes = fx.deviceIds.flatMap((deviceId) => Array.from({ length: IN_FLIGHT_PER_DEVICE }, () => lane(deviceId)));
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(lanes);
    },
  };
}

function assertNoFaults(tally: Tally, diagnostics: () => string): void {
  assert.deepEqual(tally.unexpected.slice(0, 10), [], `no answer but delivered, duplicate or 503:\n${diagnostics()}`);
  assert.equal(tally.hung, 0, `no request without an answer within ${CLIENT_TIMEOUT_MS} ms`);
  assert.equal(tally.unavailableWithoutRetryAfter, 0, 'every 503 has Retry-After');
}

/** For a failure message: the counts so far and the server's last warnings. */
function diagnose(fx: ConsumerFixture, tally: Tally, set: SentinelSet): string {
  const warnings = fx.server.logs.filter((line) => Number(line.level) >= 40).slice(-15).map((line) => JSON.stringify(line).slice(0, 400));
  return [
    `delivered=${tally.delivered.size} 503=${tally.unavailable} unexpected=${tally.unexpected.slice(0, 5).join(' | ')} hung=${tally.hung}`,
    ...warnings,
    set.logs(),
  ].join('\n');
}

function report(label: string, fields: Record<string, string | number>): void {
  const line = Object.entries(fields).map(([name, value]) => `${name}=${value}`).join(' ');
  process.stdout.write(`DRILL ${label}: ${line}\n`);
}

const seconds = (ms: number | undefined): string => (ms === undefined ? 'never' : (ms / 1000).toFixed(2));

describe('failover drills on Redis Sentinel (kill -9 the primary under a submit load)', { skip: skipWithoutSentinel('the Sentinel failover drills') }, () => {
  let set: SentinelSet;
  before(async () => {
    set = await startSentinelSet();
  });
  after(async () => set?.close());

  async function drillFixture(env: Record<string, string>): Promise<ConsumerFixture> {
    // Each drill authenticates the same devices afresh.
    await Promise.all([1, 2].map((db) => set.client(db).flushdb()));
    const fx = await startConsumerFixture({ store: 'sentinel', sentinel: set, devices: DEVICES, env });
    await Promise.all(fx.deviceIds.map((deviceId) => fx.publicKey(deviceId)));
    return fx;
  }

  async function killPrimaryUnder(load: Load): Promise<{ killed: SetMember; killedAt: number }> {
    await waitUntil(async () => load.tally.delivered.size >= DELIVERED_BEFORE_KILL, 60_000, () => 'the load delivered too little before the kill');
    const killed = await set.primary();
    const killedAt = Date.now();
    await killed.stop('SIGKILL');
    return { killed, killedAt };
  }

  test('REDIS_WAIT_REPLICAS=1: every delivered id survives; 503 with Retry-After until the killed node is back as a replica', async () => {
    await set.waitForReplicas(1);
    const fx = await drillFixture({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) });
    const load = startLoad(fx, 'wait');
    try {
      const { killed, killedAt } = await killPrimaryUnder(load);
      const promoted = await set.waitForNewPrimary(killed.port);
      const promotedAt = Date.now();
      await sleep(GAP_OBSERVED_MS);
      // Nothing may be delivered while the promoted primary has no replica.
      const deliveredAlone = load.tally.firstDeliveredAfter(promotedAt + WAIT_TIMEOUT_MS * 2);
      const unavailableBeforeRestart = load.tally.unavailable;
      // The supervisor restarts the killed node: it comes back as the new primary's replica.
      const restartedAt = Date.now();
      await killed.start();
      let recoveredAt: number | undefined;
      await waitUntil(
        async () => (recoveredAt = load.tally.firstDeliveredAfter(restartedAt)) !== undefined,
        RECOVERY_DEADLINE_MS,
        () => `no delivered answer after the restart:\n${diagnose(fx, load.tally, set)}`,
      );
      await sleep(500);
      await load.stop();
      const tally = load.tally;
      report('sentinel WAIT=1', {
        delivered: tally.delivered.size,
        duplicate: tally.duplicate,
        '503': tally.unavailable,
        failoverSeconds: seconds(promotedAt - killedAt),
        restartToRecoverySeconds: seconds(recoveredAt! - restartedAt),
        killToRecoverySeconds: seconds(recoveredAt! - killedAt),
      });
      assertNoFaults(tally, () => diagnose(fx, tally, set));
      assert.equal(tally.sessionLost, 0, 'with WAIT no session key handed out is lost with the primary');
      assert.notEqual(promoted.port, killed.port);
      assert.equal(deliveredAlone, undefined, 'no delivered answer while the promoted primary had no replica');
      assert.ok(unavailableBeforeRestart > 0, 'the gap was answered 503');

      // SPEC §13's promise: every acknowledged message is on the new primary, readable by the site.
      const missing: string[] = [];
      for (const id of tally.delivered) {
        const read = await fx.api(`/v1/messages/${id}`);
        if (read.status !== 200) missing.push(`${id}: ${read.status}`);
      }
      assert.deepEqual(missing, [], `all ${tally.delivered.size} delivered ids readable after the failover`);
      // And every refused one is either kept (duplicate) or stored by its retry (delivered).
      for (const { deviceId, text } of tally.refused.slice(0, 20)) {
        const retry = await submit(fx, deviceId, text);
        assert.notEqual(retry, 'hung');
        const body = (await (retry as Response).json()) as Record<string, unknown>;
        assert.ok(body.message === Message.delivered || body.message === Message.duplicate, JSON.stringify(body));
      }
    } finally {
      await load.stop();
      await fx.close();
    }
  });

  test('every sentinel away while the connections drop: 503s, and service resumes once a sentinel is back', async () => {
    await set.waitForReplicas(1);
    const fx = await drillFixture({});
    const load = startLoad(fx, 'sentinels');
    try {
      await waitUntil(async () => load.tally.delivered.size >= 10, 60_000, () => 'the load delivered too little');
      await Promise.all(set.sentinels.map((sentinel) => sentinel.stop('SIGKILL')));
      // The server must ask the sentinels again, and finds none: ioredis gives such a connection up
      // for good unless the server revives it (src/backends/redis/sentinel.ts reviveWhenEnded).
      const primary = await set.primaryWithoutSentinels();
      await set.direct(primary, 0).call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const droppedAt = Date.now();
      await sleep(3000);
      assert.equal(load.tally.firstDeliveredAfter(droppedAt + 500), undefined, 'nothing delivered without a sentinel to name the primary');
      const back = Date.now();
      await Promise.all(set.sentinels.map((sentinel) => sentinel.start()));
      let recoveredAt: number | undefined;
      await waitUntil(
        async () => (recoveredAt = load.tally.firstDeliveredAfter(back)) !== undefined,
        RECOVERY_DEADLINE_MS,
        () => `no delivered answer after the sentinels returned:\n${diagnose(fx, load.tally, set)}`,
      );
      await load.stop();
      report('sentinels away', { '503': load.tally.unavailable, sentinelsBackToRecoverySeconds: seconds(recoveredAt! - back) });
      assertNoFaults(load.tally, () => diagnose(fx, load.tally, set));
    } finally {
      await load.stop();
      await fx.close();
    }
  });

  test('no WAIT: service resumes by itself at failover, with 503s (never a 500 or a hang) in the gap', async () => {
    await set.waitForReplicas(1);
    const fx = await drillFixture({});
    const load = startLoad(fx, 'nowait');
    try {
      const { killed, killedAt } = await killPrimaryUnder(load);
      let recoveredAt: number | undefined;
      await waitUntil(
        async () => (recoveredAt = load.tally.firstDeliveredAfter(killedAt)) !== undefined,
        RECOVERY_DEADLINE_MS,
        () => `no delivered answer after the kill:\n${diagnose(fx, load.tally, set)}`,
      );
      await sleep(500);
      await load.stop();
      const tally = load.tally;
      // Without WAIT an acknowledged write the replica had not received yet is lost with the primary: counted, not asserted.
      let missing = 0;
      for (const id of tally.delivered) if ((await fx.api(`/v1/messages/${id}`)).status !== 200) missing += 1;
      report('sentinel no WAIT', {
        delivered: tally.delivered.size,
        '503': tally.unavailable,
        killToRecoverySeconds: seconds(recoveredAt! - killedAt),
        deliveredButLost: missing,
        sessionsLost: tally.sessionLost,
      });
      assertNoFaults(tally, () => diagnose(fx, tally, set));
      await killed.start();
      await set.waitForReplicas(1);
    } finally {
      await load.stop();
      await fx.close();
    }
  });
});

describe('failover drills on Redis Cluster (kill -9 the primary of the log shard under a submit load)', { skip: skipWithoutRedisCluster('the Cluster failover drills') }, () => {
  let fx: ConsumerFixture;
  let cluster: RedisCluster;
  // Every submit writes the §9 log, so killing the log's primary stops every submit in the gap.
  const logKey = new RedisKeys('', 'cluster').logEntries;
  before(async () => {
    fx = await startConsumerFixture({ store: 'redis-cluster', devices: DEVICES });
    cluster = fx.cluster!;
    // A kill must meet a shard whose replica is in sync, or the drill measures a cold replica.
    await cluster.waitReplicasInSync(60_000);
    await Promise.all(fx.deviceIds.map((deviceId) => fx.publicKey(deviceId)));
  });
  after(async () => fx?.close());

  /** Kills the log shard's primary under `load`; resolves with it once a replica has taken over. */
  async function killLogPrimary(load: Load): Promise<{ killed: ClusterNode; killedAt: number; promotedAt: number }> {
    await waitUntil(async () => load.tally.delivered.size >= DELIVERED_BEFORE_KILL, 60_000, () => 'the load delivered too little before the kill');
    const killed = await cluster.masterOf(logKey);
    const killedAt = Date.now();
    await cluster.kill(killed);
    await waitUntil(async () => (await cluster.masterOf(logKey)) !== killed, 60_000, () => 'no replica took over the log shard');
    return { killed, killedAt, promotedAt: Date.now() };
  }

  test('no WAIT, then REDIS_WAIT_REPLICAS=1: recovery by itself, then only once the killed node is back; every delivered id survives with WAIT', async () => {
    // No WAIT: service resumes once the shard's replica is promoted.
    let load = startLoad(fx, 'cluster-nowait');
    try {
      const { killed, killedAt } = await killLogPrimary(load);
      let recoveredAt: number | undefined;
      await waitUntil(async () => (recoveredAt = load.tally.firstDeliveredAfter(killedAt)) !== undefined, RECOVERY_DEADLINE_MS, () => 'no delivered answer after the kill');
      await load.stop();
      report('cluster no WAIT', { delivered: load.tally.delivered.size, '503': load.tally.unavailable, killToRecoverySeconds: seconds(recoveredAt! - killedAt), sessionsLost: load.tally.sessionLost });
      assert.deepEqual(load.tally.unexpected.slice(0, 10), [], 'no answer but delivered, duplicate or 503');
      assert.equal(load.tally.hung, 0);
      assert.equal(load.tally.unavailableWithoutRetryAfter, 0);
      await cluster.restartAsReplica(killed);
      await cluster.waitHealthy();
      await cluster.waitReplicasInSync(60_000);
    } finally {
      await load.stop();
    }

    // WAIT=1: the promoted primary has no replica until the killed node is restarted (the supervisor).
    await fx.restart({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) });
    // The restarted node must be the shard's replica again, caught up, before the drill.
    let probe: unknown;
    await waitUntil(
      async () => {
        probe = (await fx.submit(fx.deviceIds[0]!, `probe-${Date.now()}`, MINUTE)).message;
        // A session lost with the unreplicated primary of the no-WAIT half: authenticate again.
        if (probe === Message.notFound) fx.forgetKey(fx.deviceIds[0]!);
        return probe === Message.delivered;
      },
      60_000,
      () => `WAIT=1 never satisfied after the restart (last answer: ${String(probe)})`,
    );
    load = startLoad(fx, 'cluster-wait');
    try {
      const { killed, killedAt, promotedAt } = await killLogPrimary(load);
      await sleep(GAP_OBSERVED_MS);
      const deliveredAlone = load.tally.firstDeliveredAfter(promotedAt + WAIT_TIMEOUT_MS * 2);
      const restartedAt = Date.now();
      await cluster.restartAsReplica(killed);
      let recoveredAt: number | undefined;
      await waitUntil(async () => (recoveredAt = load.tally.firstDeliveredAfter(restartedAt)) !== undefined, RECOVERY_DEADLINE_MS, () => 'no delivered answer after the restart');
      await load.stop();
      const tally = load.tally;
      report('cluster WAIT=1', {
        delivered: tally.delivered.size,
        '503': tally.unavailable,
        failoverSeconds: seconds(promotedAt - killedAt),
        restartToRecoverySeconds: seconds(recoveredAt! - restartedAt),
        killToRecoverySeconds: seconds(recoveredAt! - killedAt),
      });
      assert.deepEqual(tally.unexpected.slice(0, 10), [], 'no answer but delivered, duplicate or 503');
      assert.equal(tally.hung, 0);
      assert.equal(tally.unavailableWithoutRetryAfter, 0);
      assert.equal(deliveredAlone, undefined, 'no delivered answer while the log shard had no replica');
      assert.equal(tally.sessionLost, 0, 'with WAIT no session key handed out is lost with the primary');
      const missing: string[] = [];
      for (const id of tally.delivered) {
        const read = await fx.api(`/v1/messages/${id}`);
        if (read.status !== 200) missing.push(`${id}: ${read.status}`);
      }
      assert.deepEqual(missing, [], `all ${tally.delivered.size} delivered ids readable after the failover`);
    } finally {
      await load.stop();
    }
  });
});
