/** A tiny HTTP client for the tests: real requests over the loopback, both body formats. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
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

/** An answer read over a connection of its own (node:http's headers). */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The JSON body, or {} when it is not JSON. */
  body: Record<string, unknown>;
}

/**
 * One request on a connection of its own, closed after it (`fetch` keeps connections alive):
 * with WORKERS > 1, node:cluster hands each new connection to a worker in turn.
 */
export function requestOnNewConnection(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const body = init.body;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { connection: 'close', ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }), ...init.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // left empty; the test looks at status and text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /api as a form on a connection of its own (see requestOnNewConnection). */
export function postOnNewConnection(baseUrl: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  return requestOnNewConnection(`${baseUrl}${API_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}
