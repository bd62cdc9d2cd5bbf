/** Small, bounded HTTP helpers: read a JSON body with a size cap, answer JSON or a typed error. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { z } from 'zod';
import { decodeFrame } from './protocol.js';
import { HTTP_STATUS, SignalingError, SignalingErrorCode } from './errors.js';

/**
 * The client went away mid-request (reset, aborted upload, closed stream). Nobody is left to
 * answer, and it is the client's doing, not the server's: logged at debug, not as an error.
 */
export class ClientGone extends Error {
  constructor(cause?: unknown) {
    super('client went away', { cause });
    this.name = 'ClientGone';
  }
}

const GONE_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
]);

/** True for the errors a vanished client causes (see ClientGone). */
export function isClientGone(err: unknown): boolean {
  if (err instanceof ClientGone) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    (typeof e?.code === 'string' && GONE_CODES.has(e.code)) ||
    (err instanceof Error && e?.message === 'aborted')
  );
}

/** Read the whole body, refusing more than `max` bytes (BODY_TOO_LARGE) without buffering it. */
export function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      reject(
        new SignalingError(
          SignalingErrorCode.BODY_TOO_LARGE,
          `request body larger than ${max} bytes`,
        ),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(
          new SignalingError(
            SignalingErrorCode.BODY_TOO_LARGE,
            `request body larger than ${max} bytes`,
          ),
        );
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', (err) => reject(isClientGone(err) ? new ClientGone(err) : err));
    // Closed before the body ended (an aborted upload): settle, or the handler waits forever.
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
  });
}

export async function readJson<T>(
  req: IncomingMessage,
  schema: z.ZodType<T>,
  max: number,
): Promise<T> {
  const text = await readBody(req, max);
  const r = decodeFrame(schema, text, max);
  return r;
}

/**
 * Every JSON answer is one line ending in `\n` (JSON Lines style): read with curl, the shell
 * prompt starts on its own line, and `curl … | while read` / `jq -c` see one complete record.
 * JSON.parse ignores the newline. `endWithError` and the SSE / poll bodies end the same way.
 */
export function jsonBody(body: unknown): string {
  return JSON.stringify(body) + '\n';
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = jsonBody(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: SignalingError): void {
  const status = HTTP_STATUS[e.code as SignalingErrorCode] ?? 400;
  sendJson(res, status, { error: { code: e.code, message: e.message } });
}

/**
 * Answer a typed error on a bare socket, where there is no ServerResponse: Node's parser
 * refused the request (`clientError`) or an upgrade asked for a path we do not serve. Same body
 * as `sendError`, so a client switches on one code whatever layer refused it; then the socket
 * ends and is destroyed once the answer is flushed (the peer gets no second request in).
 */
export function endWithError(
  socket: Duplex,
  status: number,
  code: SignalingErrorCode,
  message: string,
): void {
  const text = jsonBody({ error: { code, message } });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'content-type: application/json\r\n' +
      `content-length: ${Buffer.byteLength(text)}\r\n` +
      'cache-control: no-store\r\n' +
      'connection: close\r\n\r\n' +
      text,
  );
}

/** Bearer credential from the Authorization header, or `?token=` (EventSource cannot set headers). */
export function bearer(req: IncomingMessage, url: URL): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1] ?? url.searchParams.get('token') ?? undefined;
}
