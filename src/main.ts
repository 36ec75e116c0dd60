/** Starts the server: configuration, backends, the protocol service and the HTTP surface. */
import { ConfigError, loadEnv, readConfig } from './config/config.js';
import { startServer } from './server.js';

try {
  const config = readConfig(loadEnv());
  await startServer(config);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
