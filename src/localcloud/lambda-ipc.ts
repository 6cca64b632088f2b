import type { Socket } from 'node:net';

/**
 * The channel between the engine and one instance: newline-delimited JSON over a socket pair on
 * the child's fd 3. Not Node's `ipc` channel: that one acts on messages whose `cmd` starts with
 * NODE_ (handle passing) and throws inside the engine on a line that is not JSON or a NODE_HANDLE
 * it did not expect, and it buffers a line of any length. Everything the child sends is the
 * function's to forge (its code can write to fd 3), so it is read here with a byte budget and
 * checked field by field before the instance looks at it.
 */

export interface RapidError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'initError'; error: RapidError }
  | { type: 'log'; text: string }
  | { type: 'result'; requestId: string; payload: string; rss: number }
  | { type: 'error'; requestId: string; error: RapidError; rss: number; fatal?: boolean };

/** Lambda's synchronous response quota: a larger answer is Function.ResponseSizeTooLarge. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** The bootstrap sends what a function writes in pieces of at most 64 K characters. */
export const MAX_LOG_CHARS = 256 * 1024;
const MAX_ERROR_CHARS = 256 * 1024;
const MAX_TRACE_LINES = 1000;
/**
 * One line the engine buffers at most: a 6 MB payload escaped inside a JSON string (quotes and
 * backslashes double) and the message around it. A longer line ends the instance unread.
 */
export const MAX_LINE_BYTES = 2 * MAX_PAYLOAD_BYTES + 64 * 1024;

/** Why a message is refused, in words for the caller's error. */
export class ProtocolError extends Error {}

/**
 * Reads lines from `socket` and hands each parsed value to `onMessage`; the first line over the
 * budget, or that is not JSON, goes to `onError` and nothing more is read.
 */
export function readLines(socket: Socket, onMessage: (value: unknown) => void, onError: (err: ProtocolError) => void): void {
  let chunks: Buffer[] = [];
  let pending = 0;
  let failed = false;
  const fail = (err: ProtocolError) => {
    failed = true;
    chunks = [];
    socket.pause();
    socket.removeAllListeners('data');
    onError(err);
  };
  socket.on('data', (data: Buffer) => {
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1 && !failed; nl = data.indexOf(10, start)) {
      chunks.push(data.subarray(start, nl));
      const line = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, pending + nl - start);
      chunks = [];
      pending = 0;
      start = nl + 1;
      if (line.length > MAX_LINE_BYTES) return fail(new ProtocolError(`a message of ${line.length} bytes, over the ${MAX_LINE_BYTES} the local cloud reads`));
      let value: unknown;
      try {
        value = JSON.parse(line.toString('utf8'));
      } catch {
        return fail(new ProtocolError('a message that is not JSON'));
      }
      onMessage(value);
    }
    if (failed || start >= data.length) return;
    pending += data.length - start;
    chunks.push(data.subarray(start));
    if (pending > MAX_LINE_BYTES) fail(new ProtocolError(`a message over ${MAX_LINE_BYTES} bytes (not read to its end)`));
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRss = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function rapidError(v: unknown): RapidError {
  if (!isObject(v) || typeof v.errorType !== 'string' || typeof v.errorMessage !== 'string') throw new ProtocolError('an error without a string errorType and errorMessage');
  if (v.errorType.length + v.errorMessage.length > MAX_ERROR_CHARS) throw new ProtocolError(`an error over ${MAX_ERROR_CHARS} characters`);
  const error: RapidError = { errorType: v.errorType, errorMessage: v.errorMessage };
  if (v.trace !== undefined) {
    if (!Array.isArray(v.trace) || v.trace.length > MAX_TRACE_LINES || !v.trace.every((l) => typeof l === 'string' && l.length <= MAX_ERROR_CHARS)) {
      throw new ProtocolError(`an error trace that is not at most ${MAX_TRACE_LINES} strings`);
    }
    error.trace = v.trace as string[];
  }
  return error;
}

/**
 * What `value` says, if it is a message the instance expects now: `requestId` is the invocation
 * under way (undefined during init and between invocations). Throws ProtocolError otherwise. A
 * result over the payload quota passes here; the instance answers it as Lambda does.
 */
export function checkMessage(value: unknown, phase: 'init' | 'idle' | 'invoke', requestId: string | undefined): ChildMessage {
  if (!isObject(value)) throw new ProtocolError(`a message that is not an object (${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`);
  const { type } = value;
  if (type === 'log') {
    if (typeof value.text !== 'string') throw new ProtocolError('a log message whose text is not a string');
    if (value.text.length > MAX_LOG_CHARS) throw new ProtocolError(`a log message over ${MAX_LOG_CHARS} characters`);
    return { type, text: value.text };
  }
  if (type === 'ready' || type === 'initError') {
    if (phase !== 'init') throw new ProtocolError(`a ${type} message after init`);
    return type === 'ready' ? { type } : { type, error: rapidError(value.error) };
  }
  if (type === 'result' || type === 'error') {
    const id = value.requestId;
    if (phase !== 'invoke' || typeof id !== 'string' || id !== requestId) {
      throw new ProtocolError(`a ${type} for request ${typeof value.requestId === 'string' ? value.requestId.slice(0, 64) : typeof value.requestId}, not the one under way (${requestId ?? 'none'})`);
    }
    if (!isRss(value.rss)) throw new ProtocolError(`a ${type} whose rss is not a finite number`);
    if (type === 'result') {
      if (typeof value.payload !== 'string') throw new ProtocolError('a result whose payload is not a string');
      return { type, requestId: id, payload: value.payload, rss: value.rss };
    }
    if (value.fatal !== undefined && typeof value.fatal !== 'boolean') throw new ProtocolError('an error whose fatal is not a boolean');
    return { type, requestId: id, error: rapidError(value.error), rss: value.rss, fatal: value.fatal as boolean | undefined };
  }
  throw new ProtocolError(`a message of unknown type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 64) : typeof type)}`);
}
