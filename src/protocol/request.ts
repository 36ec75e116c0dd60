/**
 * SPEC §1 dispatch: which operation a set of form fields asks for, or why it is a bad request.
 * Transport-neutral: the HTTP layer hands over the fields it parsed.
 */
import { answers, BadRequestReason, type Answer } from './answers.js';
import { MAX_KEY_LENGTH } from './client-key.js';

/** SPEC §1: the one endpoint. Server, client and tests all take the path from here. */
export const API_PATH = '/api';

/** The form fields of SPEC §1 (and `secret`, SPEC §10) that the server reads; others are ignored. */
export const PROTOCOL_FIELDS = ['key', 'status', 'message', 'secret'] as const;
export type ProtocolField = (typeof PROTOCOL_FIELDS)[number];
export type ProtocolFields = Partial<Record<ProtocolField, string>>;

export type Operation =
  | { op: 'auth'; key: string; secret: string | undefined }
  | { op: 'logout'; key: string; secret: string | undefined }
  | { op: 'submit'; key: string; message: string };

/** Status values of SPEC §1: exact, lower case. */
const STATUS_AUTH = 'on';
const STATUS_LOGOUT = 'off';

/** Decides the operation, or the 400 answer for a malformed request. */
export function dispatch(fields: ProtocolFields): Operation | Answer {
  const { key, status, message, secret } = fields;
  if (key === undefined || key === '') return answers.badRequest(BadRequestReason.missingKey);
  if (Array.from(key).length > MAX_KEY_LENGTH) return answers.badRequest(BadRequestReason.keyTooLong);
  if (status !== undefined && message !== undefined) return answers.badRequest(BadRequestReason.statusAndMessage);
  // SPEC §10: `secret` goes with auth and logout; a submit needs none and ignores one.
  if (status === STATUS_AUTH) return { op: 'auth', key, secret };
  if (status === STATUS_LOGOUT) return { op: 'logout', key, secret };
  if (status !== undefined) return answers.badRequest(BadRequestReason.unknownStatus);
  if (message !== undefined) return { op: 'submit', key, message };
  return answers.badRequest(BadRequestReason.nothingToDo);
}

export function isAnswer(value: Operation | Answer): value is Answer {
  return 'status' in value && 'body' in value;
}
