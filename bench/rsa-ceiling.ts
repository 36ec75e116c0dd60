/**
 * Ceiling 1: RSA-OAEP private decryptions per second that node:crypto manages on every core with
 * an already-parsed key, one worker thread per core, nothing else in the way.
 */
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { constants, createPrivateKey, privateDecrypt } = require('node:crypto');
const key = createPrivateKey(workerData.privateKeyPem);
const options = { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
const ciphertext = Buffer.from(workerData.ciphertext);
privateDecrypt(options, ciphertext); // the first use builds OpenSSL's per-key state: not counted
const end = performance.now() + workerData.durationMs;
let count = 0;
while (performance.now() < end) { privateDecrypt(options, ciphertext); count++; }
parentPort.postMessage(count);
`;

export async function rsaCeiling(threads: number, durationMs: number, bits = 2048): Promise<{ perSecond: number; threads: number; bits: number }> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
  const counts = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { privateKeyPem: privateKey, ciphertext, durationMs } });
          worker.once('message', (count: number) => {
            resolve(count);
            void worker.terminate();
          });
          worker.once('error', reject);
        }),
    ),
  );
  const total = counts.reduce((sum, n) => sum + n, 0);
  return { perSecond: total / (durationMs / 1000), threads, bits };
}

/**
 * CPU milliseconds one RSA-OAEP private decryption takes on this thread right now (parsed key,
 * `count` of them): the yardstick for server CPU per submit on a shared machine, where contention
 * inflates every CPU figure alike (run to run the server's CPU per submit moved by 3x with the load).
 */
export function rsaCpuMsPerDecrypt(count = 400, bits = 2048): number {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const options = { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
  privateDecrypt(options, ciphertext); // builds OpenSSL's per-key state: not counted
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) privateDecrypt(options, ciphertext);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}
