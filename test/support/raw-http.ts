import * as fs from 'node:fs';
import * as net from 'node:net';

/** A socket this process listens on, from /proc: TCP (v4 or v6) with its port, or unix with its path. */
export interface Listener {
  inode: string;
  kind: 'tcp' | 'unix';
  port?: number;
  path?: string;
}

/** Every socket this process listens on (state LISTEN), found as any other process on the host would find them. */
export function processListeners(): Listener[] {
  const mine = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) mine.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const found: Listener[] = [];
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A: LISTEN; column 9: the inode; column 1: local address:port in hex.
      if (cols[3] === '0A' && mine.has(cols[9])) found.push({ inode: cols[9], kind: 'tcp', port: parseInt(cols[1].split(':')[1], 16) });
    }
  }
  for (const line of fs.readFileSync('/proc/self/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // Flags 00010000: __SO_ACCEPTCON (listening); column 6: the inode, 7: the path.
    if (cols[3] === '00010000' && mine.has(cols[6])) found.push({ inode: cols[6], kind: 'unix', path: cols[7] });
  }
  return found;
}

export interface RawExchange {
  /** Everything the server sent, as text. */
  received: string;
  /** The status line's code, if an answer came. */
  status?: number;
  /** Whether the server ended or reset the connection (within the wait). */
  closed: boolean;
}

/**
 * Opens a TCP connection to 127.0.0.1:`port`, writes `data` exactly as given (no HTTP client in
 * between, so it can be malformed or incomplete), then either destroys the socket at once
 * (`abort`) or waits up to `waitMs` for the server to answer and close.
 */
export function rawExchange(port: number, data: string | Buffer, { abort = false, waitMs = 5_000 } = {}): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const received = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
      resolve({ received, status: status ? Number(status) : undefined, closed });
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset: counted as closed below
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.once('connect', () => {
      socket.write(data, (err) => {
        if (err) return reject(err);
        if (abort) {
          // Let the bytes leave before the socket goes: the server must see a request cut short.
          setImmediate(() => {
            socket.destroy();
            resolve({ received: '', closed: true });
            clearTimeout(timer);
          });
        }
      });
    });
  });
}

/**
 * An HTTP request whose body the test sends piece by piece, reading the server's answer as it
 * comes: for bodies the server must refuse, or throttle, before they are sent.
 */
export class RawRequest {
  private readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(port: number, head: string) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.write(head);
  }

  /** What the server sent so far. */
  get received(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  /** Waits until the server has sent something matching `pattern` (or closed); fails after `ms`. */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.received)) {
      if (this.closed) throw new Error(`the server closed the connection without sending ${pattern}; it sent: ${this.received.slice(0, 300) || 'nothing'}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} from the server within ${ms} ms; it sent: ${this.received.slice(0, 300) || 'nothing'}`);
      await new Promise<void>((wake) => {
        const t = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          wake();
        });
      });
    }
    return this.received;
  }

  /** Waits until the server has closed the connection; fails after `ms`. */
  async waitClosed(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`the server did not close the connection within ${ms} ms`);
      await new Promise<void>((wake) => {
        const t = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          wake();
        });
      });
    }
  }

  /** Writes `data`; resolves once it has been handed to the kernel (false: the connection is gone). */
  write(data: string | Buffer): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(data, (err) => resolve(!err)));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The status code of the last answer in `text` (after a 100 Continue, the final one). */
export function finalStatus(text: string): number | undefined {
  const codes = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  return codes.at(-1);
}

/** The JSON (or XML) body of the last answer in `text`. */
export function answerBody(text: string): string {
  return text.slice(text.lastIndexOf('\r\n\r\n') + 4);
}
