import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger';

/** How long a client may take to send its request's headers, on every listener of the engine. */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * How often those deadlines are checked. Node's default (30 s) would let a header that never ends
 * hold its socket for up to 40 s instead of 10: one check a second costs nothing measurable.
 */
const CHECK_INTERVAL_MS = 1_000;

export interface HttpServerOptions {
  /** Named in the log lines: 'local cloud', 'REST API'. */
  name: string;
  logger: Logger;
  /**
   * How long a client may take to send a whole request, headers and body (answers may take as
   * long as they need). Set from the largest body a listener takes.
   */
  requestTimeoutMs: number;
}

/**
 * An http.Server that a client cannot take down or hold forever: malformed requests (a garbage
 * request line, bad headers, a broken chunked body) are answered 400 and closed, requests whose
 * headers or body never finish are closed after their deadline (408), and a client that goes away
 * mid-request is only logged. Each engine listener is made with this, so none depends on Node's
 * defaults (60 s for headers, 300 s for a request, checked every 30 s).
 */
export function createHttpServer(options: HttpServerOptions, handler: http.RequestListener): http.Server {
  const { name, logger } = options;
  const server = http.createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: options.requestTimeoutMs, connectionsCheckingInterval: CHECK_INTERVAL_MS },
    (req, res) => {
      // A request's or an answer's 'error' with no listener would be thrown: a client that went
      // away (aborted, reset) is not the engine's failure, whatever the handler listens to.
      const gone = (err: Error) => logger.debug({ listener: name, err: err.message }, 'client went away');
      req.on('error', gone);
      res.on('error', gone);
      handler(req, res);
    },
  );
  // With a listener, Node no longer answers these itself: answer as it would, and never throw.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    logger.debug({ listener: name, err: err.message, code: err.code }, 'malformed or unfinished request');
    // Never written into an answer already under way: that would corrupt it for the client.
    const answering = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || answering) {
      socket.destroy();
      return;
    }
    const [status, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, `the request did not arrive in time: send its headers within ${HEADERS_TIMEOUT_MS / 1000} s and all of it within ${options.requestTimeoutMs / 1000} s`]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request headers are too large: send fewer or shorter ones']
          : [400, `malformed HTTP request (${err.code ?? err.message}): send a well-formed HTTP/1.1 request`];
    const body = `${name}: ${message}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // A client that does not read its answer must not keep the socket: end() waits for it.
    setTimeout(() => socket.destroy(), CHECK_INTERVAL_MS).unref();
  });
  return server;
}

/**
 * Listens on `host:port` (0: a free port); rejects with the reason when it cannot. From then on
 * the server's errors are logged: a failed accept (EMFILE: no file descriptors left) is emitted
 * on the server, and without a listener it would end the process.
 */
export function listenHttp(server: http.Server, port: number, host: string, options: Pick<HttpServerOptions, 'name' | 'logger'>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => options.logger.error({ listener: options.name, err: err.message }, 'listener error'));
      resolve();
    });
  });
}
