/**
 * Binding a Fastify app to HOST:PORT with the server's own start-up log line only (Fastify's
 * "Server listening at" lines, one per interface, are left out), and a failure to bind reported
 * like any other bad setting: one line naming the variable (ConfigError), not a stack trace.
 */
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/config.js';

export interface ListenTarget {
  host: string;
  port: number;
  /** The settings to name in a failure, e.g. HOST and PORT. */
  hostVariable: string;
  portVariable: string;
}

/** The ConfigError for a listen() failure that a setting explains; undefined for anything else. */
export function listenFailure(error: unknown, target: ListenTarget): ConfigError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${target.host}:${target.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(target.portVariable, `${where} is already in use by another process`);
    case 'EACCES':
      return new ConfigError(target.portVariable, `no permission to listen on ${where} (ports below 1024 need privileges)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new ConfigError(target.hostVariable, `"${target.host}" does not resolve to an address`);
    case 'EADDRNOTAVAIL':
      return new ConfigError(target.hostVariable, `"${target.host}" is not an address of this machine`);
    default:
      return undefined;
  }
}

export async function listenQuietly(app: FastifyInstance, target: ListenTarget): Promise<string> {
  const level = app.log.level;
  app.log.level = 'warn';
  try {
    return await app.listen({ host: target.host, port: target.port });
  } catch (error) {
    throw listenFailure(error, target) ?? error;
  } finally {
    app.log.level = level;
  }
}
