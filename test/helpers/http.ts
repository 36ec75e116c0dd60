/** A tiny HTTP client for the tests: real requests over the loopback, both body formats. */
import { API_PATH } from '../../src/protocol/request.js';

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

async function toReply(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: tests assert on status and content type
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** POST /api as application/x-www-form-urlencoded. */
export async function postForm(baseUrl: string, fields: Record<string, string> | [string, string][]): Promise<Reply> {
  const response = await fetch(`${baseUrl}${API_PATH}`, { method: 'POST', body: new URLSearchParams(fields) });
  return toReply(response);
}

/** POST /api as multipart/form-data. */
export async function postMultipart(baseUrl: string, fields: Record<string, string | Blob>, fileName?: string): Promise<Reply> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, fileName ?? 'file.bin');
  }
  return toReply(await fetch(`${baseUrl}${API_PATH}`, { method: 'POST', body: form }));
}

/** Any request, for the odd cases (wrong method, content type, raw bodies). */
export async function request(baseUrl: string, path: string, init: RequestInit = {}): Promise<Reply> {
  return toReply(await fetch(`${baseUrl}${path}`, init));
}
