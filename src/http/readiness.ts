/**
 * /readyz and the stop of the HTTP surface (SPEC §12). The backends are probed at most once a
 * second however often /readyz is asked (a load balancer per worker per instance adds up), and
 * from the moment the server begins to stop, /readyz and any request arriving on a connection
 * still open are answered 503 `unavailable` (with Retry-After and Connection: close), so a load
 * balancer moves on while the requests already in flight finish.
 */
import type { FastifyInstance } from 'fastify';
import { answers, type Answer } from '../protocol/answers.js';
import type { BackendHandle } from '../store/store.js';
import { sendAnswer } from './errors.js';

/** How long one probe of the backends answers /readyz. */
export const READINESS_CACHE_MS = 1000;

type BackendStates = Record<string, 'up' | 'down'>;

export function registerReadiness(app: FastifyInstance, backends: readonly BackendHandle[]): void {
  let stopping = false;
  let probe: { at: number; states: Promise<BackendStates> } | undefined;

  const probeBackends = async (): Promise<BackendStates> => {
    const states = await Promise.all(
      backends.map(async (backend) => {
        try {
          await backend.ping();
          return [backend.name, 'up'] as const;
        } catch {
          return [backend.name, 'down'] as const;
        }
      }),
    );
    return Object.fromEntries(states);
  };

  app.addHook('preClose', async () => {
    stopping = true;
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!stopping) return;
    reply.header('connection', 'close');
    return sendAnswer(reply, answers.unavailable());
  });

  app.get('/readyz', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const now = Date.now();
    if (probe === undefined || now - probe.at >= READINESS_CACHE_MS) probe = { at: now, states: probeBackends() };
    const states = await probe.states;
    const ready = Object.values(states).every((state) => state === 'up');
    const answer: Answer = ready ? { status: 200, body: { message: 'ready', code: 0 } } : answers.unavailable();
    return sendAnswer(reply, { ...answer, body: { ...answer.body, backends: states } });
  });
}
