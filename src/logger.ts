/**
 * The server's pino logger. Payloads, private keys and whole client keys are never passed to
 * it; the redaction below is a second line of defence should a record ever slip into a log call.
 */
import pino, { type Logger } from 'pino';

export const REDACTED_PATHS = [
  'private_key',
  '*.private_key',
  'privateKeyPem',
  '*.privateKeyPem',
  'payload',
  '*.payload',
  'plaintext',
  '*.plaintext',
  'message',
  '*.message',
  'req.body',
  'body',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}
