/**
 * Ceiling 2: a bare Fastify endpoint that only parses the same form body as /api and answers a
 * small JSON object, on the same number of processes (node:cluster) as the server under test.
 * Prints one JSON line {"url": ...} once every worker listens.
 */
import cluster from 'node:cluster';
import Fastify from 'fastify';
import formbody from '@fastify/formbody';

const workers = Number(process.env.WORKERS ?? '1');

async function serve(): Promise<string> {
  const app = Fastify({ logger: false, bodyLimit: 262_144 });
  await app.register(formbody, { bodyLimit: 262_144 });
  app.post('/api', async (request, reply) => {
    const fields = request.body as Record<string, unknown>;
    const ok = typeof fields.key === 'string' && (typeof fields.message === 'string' || typeof fields.status === 'string');
    return reply.code(ok ? 200 : 400).send({ message: ok ? 'delivered' : 'bad request', code: ok ? 0 : 3 });
  });
  return app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? '0') });
}

if (workers <= 1) {
  const url = await serve();
  process.stdout.write(`${JSON.stringify({ url, pids: [process.pid] })}\n`);
} else if (cluster.isPrimary) {
  const pids: number[] = [];
  let url = '';
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    worker.on('message', (message: { url: string }) => {
      url = message.url;
      pids.push(worker.process.pid ?? 0);
      if (pids.length === workers) process.stdout.write(`${JSON.stringify({ url, pids })}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const url = await serve();
  process.send?.({ url });
}
