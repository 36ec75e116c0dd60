/**
 * The two body formats of SPEC §1, reduced to the same thing: the protocol's text fields.
 * A repeated field, a non-text value or a file part is a bad request.
 */
import type { FastifyRequest } from 'fastify';
import { BadRequestReason } from '../protocol/answers.js';
import { PROTOCOL_FIELDS, type ProtocolField, type ProtocolFields } from '../protocol/request.js';
import { HttpProblem } from './problems.js';

function isProtocolField(name: string): name is ProtocolField {
  return (PROTOCOL_FIELDS as readonly string[]).includes(name);
}

/** Fields of an application/x-www-form-urlencoded body, as @fastify/formbody parsed them. */
export function urlencodedFields(body: unknown): ProtocolFields {
  const fields: ProtocolFields = {};
  if (typeof body !== 'object' || body === null) return fields;
  for (const [name, value] of Object.entries(body)) {
    if (!isProtocolField(name)) continue;
    if (Array.isArray(value)) throw HttpProblem.badRequest(BadRequestReason.repeatedField);
    if (typeof value !== 'string') throw HttpProblem.badRequest(BadRequestReason.fieldNotText);
    fields[name] = value;
  }
  return fields;
}

/** Fields of a multipart/form-data body, read part by part with a bound on the total. */
export async function multipartFields(request: FastifyRequest, maxBodyBytes: number): Promise<ProtocolFields> {
  const fields: ProtocolFields = {};
  const seen = new Set<string>();
  let total = 0;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') throw HttpProblem.badRequest(BadRequestReason.fileNotAccepted);
      if (part.valueTruncated || part.fieldnameTruncated) throw HttpProblem.bodyTooLarge();
      const value = part.value;
      if (typeof value !== 'string') throw HttpProblem.badRequest(BadRequestReason.fieldNotText);
      total += Buffer.byteLength(value) + Buffer.byteLength(part.fieldname);
      if (total > maxBodyBytes) throw HttpProblem.bodyTooLarge();
      if (!isProtocolField(part.fieldname)) continue;
      if (seen.has(part.fieldname)) throw HttpProblem.badRequest(BadRequestReason.repeatedField);
      seen.add(part.fieldname);
      fields[part.fieldname] = value;
    }
  } catch (error) {
    if (error instanceof HttpProblem) throw error;
    // The limits of @fastify/multipart carry 413; anything else busboy throws means the body is not a valid form.
    if ((error as { statusCode?: number }).statusCode === 413) throw HttpProblem.bodyTooLarge();
    throw HttpProblem.badRequest(BadRequestReason.malformedBody);
  }
  return fields;
}
