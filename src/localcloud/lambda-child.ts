/**
 * The bootstrap of one warm Lambda instance: a child process of the local cloud that loads the
 * function's handler once (its init phase) and then runs one invocation at a time, received over
 * the IPC channel, as the AWS Node.js runtime does. It imports only Node built-ins: it runs with
 * the function's environment, never the engine's.
 *
 * The channel is fd 3, a socket pair with the engine carrying one JSON message a line
 * (lambda-ipc.ts), not Node's IPC channel. The function's environment arrives in the first
 * message, so that the box's launchers, which run as root, never hold it.
 *
 * Messages in:  {type: 'init', env} first; then {type: 'invoke', requestId, event (JSON text), deadline (epoch ms), functionArn, clientContext?}
 * Messages out: {type: 'ready'} | {type: 'initError', error} | {type: 'log', text}
 *               | {type: 'result', requestId, payload (JSON text), rss} | {type: 'error', requestId, error, rss}
 * Everything the function writes (console, process.stdout/stderr) is sent as `log` messages, so it
 * reaches the parent in order with the invocation's result.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, types } from 'node:util';

interface Invoke {
  type: 'invoke';
  requestId: string;
  event: string;
  deadline: number;
  functionArn: string;
  clientContext?: string;
}
interface RapidError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}
type Handler = (event: unknown, context: object, callback: (err?: unknown, result?: unknown) => void) => unknown;

// Files the function makes are its own: what it writes to a shared directory such as /tmp (where
// handlers written for AWS put things) is not readable by other accounts' handlers.
process.umask(0o077);

const env = process.env;
let requestId: string | undefined;

const channel = new net.Socket({ fd: 3, readable: true, writable: true });

/** Sends a message to the parent; `then` runs once it is written (or could not be). */
function send(message: object, then?: () => void): void {
  try {
    channel.write(`${JSON.stringify(message)}\n`, () => then?.());
  } catch {
    // The parent is gone; 'close' below ends this process.
    then?.();
  }
}

// The channel is this process's lifeline: when the engine stops or dies, so does the instance.
channel.on('close', () => process.exit(0));
channel.on('error', () => process.exit(0));

/** One JSON message a line from the engine (trusted: it is the engine). */
function onMessages(handle: (msg: Record<string, unknown>) => void): void {
  let buffered = '';
  channel.setEncoding('utf8');
  channel.on('data', (data: string) => {
    buffered += data;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      handle(JSON.parse(line));
    }
  });
}

/** What a function writes goes in pieces the engine accepts (lambda-ipc.ts: MAX_LOG_CHARS). */
const LOG_PIECE_CHARS = 64 * 1024;

for (const stream of [process.stdout, process.stderr]) {
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    for (let at = 0; at < text.length; at += LOG_PIECE_CHARS) send({ type: 'log', text: text.slice(at, at + LOG_PIECE_CHARS) });
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') done();
    return true;
  }) as typeof stream.write;
}
// console as the Node.js runtime formats it: time, request id, level, message (newlines become \r
// so that one call stays one log event).
const LEVELS = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' } as const;
for (const [method, level] of Object.entries(LEVELS)) {
  (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
    process.stdout.write(`${new Date().toISOString()}\t${requestId ?? 'undefined'}\t${level}\t${format(...args).replace(/\n/g, '\r')}\n`);
}

/** The payload of a failed invocation, as the AWS Node.js runtime builds it. */
function toRapidResponse(error: unknown): RapidError {
  const e = error as Error;
  if (types.isNativeError(error) || (e && typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string')) {
    return { errorType: e.name, errorMessage: e.message, trace: String(e.stack).split('\n') };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function runtimeError(name: string, message: string, stack?: string): Error {
  const err = new Error(message);
  err.name = `Runtime.${name}`;
  if (stack) err.stack = stack;
  return err;
}

// tsc (module: commonjs) would turn import() into require(), which cannot load ES modules.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>;

function packageTypeIsModule(file: string): boolean {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir) || dir === path.dirname(env.LAMBDA_TASK_ROOT!)) return false;
  }
}

/** Loads `<task root>/<dir/>module` as the runtime does: extensionless, .js (CommonJS or ESM by package.json), .mjs, .cjs. */
async function loadModule(base: string, moduleName: string): Promise<Record<string, unknown>> {
  const isFile = (f: string) => fs.existsSync(f) && fs.statSync(f).isFile();
  try {
    if (isFile(base)) return require(base);
    if (isFile(`${base}.js`)) return packageTypeIsModule(`${base}.js`) ? await importModule(pathToFileURL(`${base}.js`).href) : require(`${base}.js`);
    if (isFile(`${base}.mjs`)) return await importModule(pathToFileURL(`${base}.mjs`).href);
    if (isFile(`${base}.cjs`)) return require(`${base}.cjs`);
  } catch (err) {
    if (err instanceof SyntaxError) throw runtimeError('UserCodeSyntaxError', `${err.name}: ${err.message}`, err.stack);
    throw err;
  }
  throw runtimeError('ImportModuleError', `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${__filename}`);
}

async function loadHandler(): Promise<Handler> {
  const full = env._HANDLER ?? '';
  const slash = full.lastIndexOf('/');
  const m = /^([^.]*)\.(.*)$/.exec(full.slice(slash + 1));
  if (!m) throw runtimeError('MalformedHandlerName', 'Bad handler');
  const mod = await loadModule(path.resolve(env.LAMBDA_TASK_ROOT!, full.slice(0, slash + 1), m[1]), m[1]);
  const handler = m[2].split('.').reduce<unknown>((o, key) => (o == null ? undefined : (o as Record<string, unknown>)[key]), mod);
  if (handler === undefined) throw runtimeError('HandlerNotFound', `${full} is undefined or not exported`);
  if (typeof handler !== 'function') throw runtimeError('HandlerNotFound', `${full} is not a function`);
  return handler as Handler;
}

const rss = () => process.memoryUsage.rss();

/** X-Amz-Client-Context: base64 JSON (mobile SDK data); undefined when absent or unreadable. */
function parseClientContext(header: string | undefined): unknown {
  try {
    return header ? JSON.parse(Buffer.from(header, 'base64').toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ends the current invocation once: with the handler's result or error. `waitForEmptyLoop`
 * (a callback-style answer with context.callbackWaitsForEmptyEventLoop, as in AWS) holds the
 * answer until nothing else is left on the event loop.
 */
let settle: ((err: unknown, result: unknown, waitForEmptyLoop: boolean) => void) | undefined;
let heldAnswer: (() => void) | undefined;

process.on('beforeExit', () => {
  // The event loop is empty (the IPC channel is unref'd while a function runs): answer now.
  channel.ref();
  if (heldAnswer) heldAnswer();
  else settle?.(null, null, false);
});

function invoke(handler: Handler, msg: Invoke): void {
  requestId = msg.requestId;
  let done = false;
  const answer = (err: unknown, result: unknown) => {
    heldAnswer = undefined;
    settle = undefined;
    channel.ref();
    if (err !== null && err !== undefined) {
      const error = toRapidResponse(err);
      const { trace, ...rest } = error;
      console.error(`Invoke Error \t${JSON.stringify({ ...rest, stack: trace })}`);
      send({ type: 'error', requestId: msg.requestId, error, rss: rss() });
      return;
    }
    let payload: string;
    try {
      payload = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      send({ type: 'error', requestId: msg.requestId, error: toRapidResponse(e), rss: rss() });
      return;
    }
    send({ type: 'result', requestId: msg.requestId, payload, rss: rss() });
  };
  settle = (err, result, waitForEmptyLoop) => {
    if (done) return;
    done = true;
    if (waitForEmptyLoop) heldAnswer = () => answer(err, result);
    else answer(err, result);
  };
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: msg.functionArn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: msg.requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: parseClientContext(msg.clientContext),
    getRemainingTimeInMillis: () => Math.max(0, msg.deadline - Date.now()),
    succeed: (result: unknown) => settle?.(null, result, false),
    fail: (err: unknown) => settle?.(err ?? 'handled', undefined, false),
    done: (err: unknown, result: unknown) => settle?.(err, result, false),
  };
  const callback = (err?: unknown, result?: unknown) => settle?.(err, result, context.callbackWaitsForEmptyEventLoop);
  // While the function runs, the channel does not keep the loop alive: 'beforeExit' then tells
  // when the function has nothing left to do.
  channel.unref();
  try {
    const returned = handler(JSON.parse(msg.event), context, callback);
    if (returned && typeof (returned as Promise<unknown>).then === 'function') {
      (returned as Promise<unknown>).then(
        (result) => settle?.(null, result, false),
        (err) => settle?.(err ?? new Error(String(err)), undefined, false),
      );
    }
  } catch (err) {
    settle(err, undefined, false);
  }
}

let ready = false;
/** An uncaught exception or rejection ends the instance (the parent starts a new one), as in AWS. */
function crash(kind: string, error: Error, exitCode: number): void {
  console.error(`${kind} \t${JSON.stringify(toRapidResponse(error))}`);
  const exit = () => process.exit(exitCode);
  if (requestId && settle) send({ type: 'error', requestId, error: toRapidResponse(error), rss: rss(), fatal: true }, exit);
  else if (!ready) send({ type: 'initError', error: toRapidResponse(error) }, exit);
  else send({ type: 'log', text: '' }, exit);
}
process.on('uncaughtException', (err) => crash('Uncaught Exception', err, 129));
process.on('unhandledRejection', (reason) => crash('Unhandled Promise Rejection', runtimeError('UnhandledPromiseRejection', String(reason)), 128));

/** The function's environment, in place of the few variables the process started with. */
function takeEnvironment(vars: unknown): void {
  for (const key of Object.keys(env)) delete env[key];
  Object.assign(env, vars);
}

let handler: Handler | undefined;
onMessages((msg) => {
  if (msg.type === 'init') {
    takeEnvironment(msg.env);
    loadHandler().then(
      (loaded) => {
        handler = loaded;
        ready = true;
        send({ type: 'ready' });
      },
      (err) => {
        console.error(`Uncaught Exception \t${JSON.stringify(toRapidResponse(err))}`);
        send({ type: 'initError', error: toRapidResponse(err) }, () => process.exit(1));
      },
    );
  } else if (msg.type === 'invoke' && handler) {
    invoke(handler, msg as unknown as Invoke);
  }
});
