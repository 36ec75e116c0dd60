/** Property: whatever a client sends, the live server answers JSON of SPEC §1 and never 500. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Code } from '../../src/protocol/answers.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { request } from '../helpers/http.js';

const KNOWN_CODES = new Set<number>(Object.values(Code));

describe('random requests against the live server', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    // No failure budget: hundreds of refused requests for one key would otherwise be answered 429
    // before they reach the layers this property is about (the budgets have tests of their own).
    fx = await startEmbedded([['phone-01', 'Phone']], { FAILURE_LIMIT_PER_KEY: '0' });
    // A session, so random messages reach the envelope layer rather than stopping at "not found".
    await request(fx.server.url, '/api', { method: 'POST', body: new URLSearchParams({ key: clientKey('phone-01'), status: 'on' }) });
  });
  after(async () => fx.close());

  const fieldName = fc.oneof(fc.constantFrom('key', 'status', 'message', 'other'), fc.string({ maxLength: 8 }));
  const fieldValue = fc.oneof(
    fc.constantFrom(clientKey('phone-01'), 'on', 'off', '', '{}', '[]', 'null'),
    fc.string({ maxLength: 300 }),
    fc.json({ maxDepth: 3 }),
    fc.record({
      encryptedKey: fc.base64String({ maxLength: 400 }),
      iv: fc.base64String({ maxLength: 30 }),
      ciphertext: fc.base64String({ maxLength: 100 }),
      minute: fc.oneof(fc.integer(), fc.string({ maxLength: 70 }), fc.double(), fc.boolean(), fc.constant(null)),
      enc: fc.constantFrom('AES-CBC', 'AES-GCM', 'x', undefined),
      oaepHash: fc.constantFrom('SHA-256', 'SHA-1', 'MD5', undefined),
    }).map((value) => JSON.stringify(value)),
  );

  test('random urlencoded and multipart forms', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 5 }), fc.boolean(), async (fields, multipart) => {
        let body: BodyInit;
        if (multipart) {
          const form = new FormData();
          for (const [name, value] of fields) form.append(name, value);
          body = form;
        } else {
          body = new URLSearchParams(fields);
        }
        const reply = await request(fx.server.url, '/api', { method: 'POST', body });
        assert.ok(reply.status < 500, `${reply.status} ${reply.text}`);
        assert.equal(typeof reply.body.message, 'string');
        assert.ok(KNOWN_CODES.has(reply.body.code as number), reply.text);
      }),
      { numRuns: 300 },
    );
  });

  test('random raw bodies and content types', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/json', 'text/plain', ''),
        fc.uint8Array({ maxLength: 2000 }),
        async (contentType, bytes) => {
          const headers: Record<string, string> = contentType === '' ? {} : { 'content-type': contentType };
          const reply = await request(fx.server.url, '/api', { method: 'POST', headers, body: bytes });
          assert.ok(reply.status < 500, `${reply.status} ${reply.text}`);
          assert.ok(KNOWN_CODES.has(reply.body.code as number), reply.text);
        },
      ),
      { numRuns: 300 },
    );
    // And the server is still up and well.
    assert.equal((await request(fx.server.url, '/readyz')).status, 200);
  });
});
