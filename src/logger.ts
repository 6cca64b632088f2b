import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';

/** json: one JSON object a line (for log shippers); pretty: a readable line; auto: pretty on a terminal. */
export type LogFormat = 'auto' | 'json' | 'pretty';

const REDACT = [
  'password',
  '*.password',
  'token',
  '*.token',
  'connectionString',
  '*.connectionString',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'secretAccessKey',
  '*.secretAccessKey',
  'secret_access_key',
  '*.secret_access_key',
];

/**
 * The one logger. Fields that may carry secrets are redacted wherever they appear, as a second
 * line of defence: code should not put secrets into log calls in the first place. Redaction runs
 * inside pino, before either format sees the line.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = 'auto'): pino.Logger {
  const pretty = resolveLogFormat(format, destination === undefined && Boolean(process.stderr.isTTY)) === 'pretty';
  const out = pretty ? prettyStream(destination, destination === undefined && Boolean(process.stderr.isTTY)) : (destination ?? pino.destination(2));
  return pino({ level, base: { service: 'iasql' }, redact: { paths: REDACT, censor: '[redacted]' } }, out);
}

/** What `auto` means: pretty on a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO ', color: '32' },
  40: { name: 'WARN ', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/** One pino JSON line as `12:34:56.789 INFO  message key=value ...`. */
export function formatLogLine(json: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json);
  } catch {
    return json.trimEnd();
  }
  const level = LEVELS[rec.level as number] ?? { name: String(rec.level).toUpperCase(), color: '0' };
  const time = new Date(rec.time as number).toTimeString().slice(0, 8) + '.' + String(new Date(rec.time as number).getMilliseconds()).padStart(3, '0');
  const fields = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`);
  const lvl = color ? `\x1b[${level.color}m${level.name}\x1b[0m` : level.name;
  const rest = fields.length ? ` ${color ? `\x1b[2m${fields.join(' ')}\x1b[0m` : fields.join(' ')}` : '';
  return `${color ? `\x1b[2m${time}\x1b[0m` : time} ${lvl} ${rec.msg ?? ''}${rest}`;
}

function prettyStream(destination: pino.DestinationStream | undefined, color: boolean): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      const text = String(chunk)
        .split('\n')
        .filter(Boolean)
        .map((l) => formatLogLine(l, color) + '\n')
        .join('');
      if (destination) destination.write(text);
      // On a terminal, clear the line first: a spinner may be drawing there. Synchronous, like
      // pino.destination(2): nothing is lost on exit.
      else fs.writeSync(2, color ? text.replace(/^/gm, '\r\x1b[K') : text);
      cb();
    },
  });
}

export type Logger = pino.Logger;
