/**
 * Counts every /api request from the outcome the HTTP layer already records for its request log
 * line (operation, §1 code, status): one onResponse hook, no change to the protocol service.
 */
import type { FastifyInstance } from 'fastify';
import { Code, Message } from '../protocol/answers.js';
import { API_PATH } from '../protocol/request.js';
import { reportOperatorEvent } from './events.js';
import { recordRequest, type MetricOperation } from './metrics.js';

const WORDS = { delivered: Message.delivered, duplicate: Message.duplicate, invalidMessage: Message.invalidMessage };
const OPERATIONS = new Set(['auth', 'logout', 'submit']);

export function countRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url !== API_PATH || request.method !== 'POST') return;
    const code = request.outcomeCode;
    if (code === undefined) return;
    const op = (request.operation !== undefined && OPERATIONS.has(request.operation) ? request.operation : 'none') as MetricOperation;
    const message = request.outcomeMessage;
    recordRequest({ op, code, message, status: reply.statusCode, seconds: reply.elapsedTime / 1000 }, WORDS);
    if ((code === Code.ok || code === Code.already) && request.keyTag !== undefined) {
      reportOperatorEvent({ type: 'device', tag: request.keyTag });
    } else if (reply.statusCode >= 400 || code !== Code.ok) {
      // Only fixed strings of answers.ts and the human reason of a 400: never a payload or a key.
      reportOperatorEvent({
        type: 'error',
        at: new Date().toISOString(),
        op,
        status: reply.statusCode,
        code,
        message: message ?? '',
        reason: request.outcomeReason,
      });
    }
  });
}
