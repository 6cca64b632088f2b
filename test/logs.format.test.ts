import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, formatLogLine, resolveLogFormat } from '../src/logger';
import { CLI } from './support/cli';
import { dropDatabasesAndOwners, serverUrl, TEST_TOKEN, uniq } from './support/engine';
import { freePort } from './support/free-port';

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

function capture() {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { sink, text: () => text };
}

describe('log format', () => {
  test('auto is pretty on a terminal and JSON otherwise; explicit choices win', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  test('a pretty line: time, level, message, then the fields', () => {
    const line = formatLogLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), pid: 1, hostname: 'h', service: 'iasql', msg: 'rpc listener lost', err: 'gone away', retryInMs: 100 }));
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.006 WARN  rpc listener lost err="gone away" retryInMs=100$/);
  });

  test.each(['pretty', 'json'] as const)('%s lines are redacted the same way', (format) => {
    const { sink, text } = capture();
    const logger = createLogger('info', sink, format);
    logger.info({ database: 'd1', password: 'hunter2-secret', creds: { secretAccessKey: 'AKIA-SECRET-KEY' } }, 'created');
    expect(text()).not.toContain('hunter2-secret');
    expect(text()).not.toContain('AKIA-SECRET-KEY');
    expect(text()).toContain('[redacted]');
    if (format === 'json') expect(JSON.parse(text())).toMatchObject({ msg: 'created', database: 'd1', password: '[redacted]' });
    else expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  created database=d1 password=\[redacted\] creds=\{"secretAccessKey":"\[redacted\]"\}\n$/);
  });
});

describe('iasql start in a terminal', () => {
  const meta = `meta_${uniq()}`;
  const first = `tty_${uniq()}`;
  let home: string;
  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-tty-'));
  });
  afterAll(async () => {
    fs.rmSync(home, { recursive: true, force: true });
    await dropDatabasesAndOwners([meta, first]);
  });

  /** Runs `iasql start` under a pseudo-terminal (util-linux `script`) until it is ready; returns what the terminal showed. */
  async function startInTerminal(extra: NodeJS.ProcessEnv): Promise<string> {
    const env = {
      ...process.env,
      DATABASE_URL: serverUrl(),
      IASQL_HOME: home,
      IASQL_API_PORT: String(await freePort()),
      IASQL_ADMIN_TOKEN: TEST_TOKEN,
      IASQL_METADATA_DB: meta,
      IASQL_DEFAULT_DATABASE: first,
      LOG_LEVEL: 'info',
      ...extra,
    };
    const child = spawn('script', ['-qefc', `${process.execPath} ${CLI} start`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const until = Date.now() + 30_000;
    while (!/iasql ready/.test(out) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.stdin.write('\x03'); // Ctrl-C at the terminal
    await exited;
    return out.replace(ANSI, '').replace(/\r/g, '');
  }

  test('logs are readable lines by default, JSON with LOG_FORMAT=json', async () => {
    const pretty = await startInTerminal({});
    expect(pretty).toContain('iasql ready');
    expect(pretty).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  engine started api=http:\/\/127\.0\.0\.1:\d+ embedded=false$/m);
    expect(pretty).not.toMatch(/^\{"level"/m);

    const json = await startInTerminal({ LOG_FORMAT: 'json' });
    expect(json).toContain('iasql ready');
    expect(json).toMatch(/^\{"level":30,.*"msg":"engine started"\}$/m);
  });
});
