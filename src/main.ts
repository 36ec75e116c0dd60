/** Starts the server: configuration, then one process or a cluster of WORKERS processes (src/cluster.ts). */
import { run } from './cluster.js';
import { ConfigError, loadEnv, readConfig } from './config/config.js';

try {
  const config = readConfig(loadEnv());
  await run(config);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
