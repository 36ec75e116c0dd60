/**
 * Load shedding (SPEC §12, §1's 503): when the event loop lags past MAX_EVENT_LOOP_DELAY_MS, new
 * requests are answered 503 `unavailable` with Retry-After at once instead of queueing behind the
 * work already late, so a client backs off and the process catches up. @fastify/under-pressure
 * measures the lag (perf_hooks.monitorEventLoopDelay) and checks it on every request.
 */
import type { FastifyInstance } from 'fastify';
import underPressure from '@fastify/under-pressure';
import { recordOverload } from '../operator/metrics.js';
import { answers } from '../protocol/answers.js';
import { sendAnswer } from './errors.js';

export async function registerLoadShedding(app: FastifyInstance, maxEventLoopDelayMs: number): Promise<void> {
  if (maxEventLoopDelayMs <= 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    pressureHandler: (request, reply) => {
      recordOverload();
      request.log.warn({ url: request.url }, 'overloaded: request shed');
      sendAnswer(reply, answers.unavailable());
    },
  });
}
