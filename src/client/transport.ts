/**
 * One POST of SPEC §1 over fetch, urlencoded, with a timeout: the answer as status, body and
 * Retry-After, or an error when there is no usable answer.
 */
import { Code, Message } from '../protocol/answers.js';
import { API_PATH } from '../protocol/request.js';
import { AbortedError, NetworkError, ProtocolError, type AnswerBody } from './errors.js';
import { parseRetryAfter } from './retry.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** An answer of the server. */
export interface Reply {
  status: number;
  body: AnswerBody;
  retryAfterMs: number | undefined;
}

export interface PostOptions {
  fetch: FetchLike;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Statuses a proxy or load balancer puts in front of the server when it cannot reach it. */
const GATEWAY_STATUSES = [502, 503, 504];

/** Resolves a server address to its /api endpoint: a base URL gets `/api` appended, an URL ending in /api is kept. */
export function apiEndpoint(server: string): URL {
  const url = new URL(server);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`not an http(s) URL: ${server}`);
  url.hash = '';
  if (!url.pathname.endsWith(API_PATH)) url.pathname = `${url.pathname.replace(/\/+$/, '')}${API_PATH}`;
  return url;
}

function isAnswerBody(value: unknown): value is AnswerBody {
  if (typeof value !== 'object' || value === null) return false;
  const body = value as Record<string, unknown>;
  return typeof body.message === 'string' && Number.isInteger(body.code);
}

/** POSTs `fields` as application/x-www-form-urlencoded (a CORS "simple" request: no preflight needed). */
export async function postForm(url: URL, fields: Record<string, string>, options: PostOptions): Promise<Reply> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new AbortedError('aborted', { cause: options.signal.reason });
    let response: Response;
    let text: string;
    try {
      response = await options.fetch(url.href, {
        method: 'POST',
        body: new URLSearchParams(fields),
        signal: controller.signal,
        // The protocol has no cookies; a browser must not attach the page's.
        credentials: 'omit',
        cache: 'no-store',
      });
      text = await response.text();
    } catch (cause) {
      if (options.signal?.aborted) throw new AbortedError('aborted', { cause: options.signal.reason });
      const why = timedOut ? `no answer within ${options.timeoutMs} ms` : 'no answer (connection failed, or refused by CORS)';
      throw new NetworkError(`${url.origin}: ${why}`, { cause });
    }

    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (isAnswerBody(body)) return { status: response.status, body, retryAfterMs };
    // A gateway's HTML error page still means "the server is not reachable right now".
    if (GATEWAY_STATUSES.includes(response.status) || response.status === 429) {
      const body: AnswerBody =
        response.status === 429
          ? { message: Message.tooManyRequests, code: Code.tooMany }
          : { message: Message.unavailable, code: Code.unavailable };
      return { status: response.status, body, retryAfterMs };
    }
    throw new ProtocolError(`${url.origin} did not answer as a Secure Message Server (HTTP ${response.status})`, {
      status: response.status,
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
