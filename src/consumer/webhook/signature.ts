/**
 * Standard Webhooks v1 (https://www.standardwebhooks.com/, "Signature scheme"): the headers of
 * one delivery. The signature is HMAC-SHA256, under the secret's decoded bytes, of
 * `<webhook-id>.<webhook-timestamp>.<body>`, sent as `v1,<base64>`.
 */
import { createHmac } from 'node:crypto';

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signDelivery(secret: Buffer, id: string, timestampSeconds: number, body: string): WebhookHeaders {
  const timestamp = String(timestampSeconds);
  const mac = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` };
}
