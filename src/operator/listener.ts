/**
 * SPEC §12: the operator listener, a second Fastify app on ADMIN_HOST:ADMIN_PORT that serves the
 * operator, never the devices: /metrics, /openapi.json, /docs, the dashboard (/ and
 * /dashboard.json). It runs where one view over every process exists: in the cluster primary
 * (metrics aggregated from the workers) or in the one process when WORKERS=1.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { sendAnswer, handleError } from '../http/errors.js';
import { listenQuietly } from '../http/listen.js';
import { answers } from '../protocol/answers.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { Dashboard, type DashboardSource } from './dashboard.js';
import type { OperatorSettings } from './settings.js';

export interface OperatorListenerOptions extends DashboardSource {
  settings: OperatorSettings;
  /** The Prometheus content type of metricsText(). */
  metricsContentType: string;
  /** The main port's OpenAPI document (made by a worker's app, src/operator/openapi.ts). */
  openApiDocument: Record<string, unknown>;
  log: Logger;
}

export interface OperatorListener {
  url: string;
  close(): Promise<void>;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant time whatever the lengths: both sides are hashed first. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer ([^\s]+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

export async function buildOperatorApp(options: OperatorListenerOptions): Promise<{ app: FastifyInstance; dashboard: Dashboard }> {
  const { settings, log } = options;
  const app = Fastify({
    loggerInstance: log.child({ listener: 'operator' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: (error, request, reply) => {
      sendAnswer(reply, answers.badRequest('malformed request'));
    },
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => sendAnswer(reply, answers.noRoute()));

  const token = settings.adminToken;
  if (token !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      if (!bearerMatches(request.headers.authorization, token)) {
        request.log.warn({ url: request.url }, 'operator request without the right token');
        return sendAnswer(reply, answers.unauthorized());
      }
    });
  }

  await app.register(swagger, { mode: 'static', specification: { document: options.openApiDocument as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const dashboard = new Dashboard(options);
  await dashboard.start();
  app.addHook('onClose', async () => dashboard.stop());

  app.get('/metrics', async (request, reply) => {
    reply.header('cache-control', 'no-store').type(options.metricsContentType);
    return options.metricsText();
  });
  app.get('/openapi.json', async () => app.swagger());
  app.get('/dashboard.json', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    return dashboard.summary();
  });
  app.get('/', async (request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // The page loads nothing from elsewhere and runs only its own inline script.
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
      .send(DASHBOARD_PAGE),
  );
  return { app, dashboard };
}

/** Starts the listener; ADMIN_PORT=0 means none (undefined). */
export async function startOperatorListener(options: OperatorListenerOptions): Promise<OperatorListener | undefined> {
  if (options.settings.adminPort === 0) return undefined;
  const { app } = await buildOperatorApp(options);
  try {
    const url = await listenQuietly(app, {
      host: options.settings.adminHost,
      port: options.settings.adminPort,
      hostVariable: 'ADMIN_HOST',
      portVariable: 'ADMIN_PORT',
    });
    return { url, close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}
