import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execCli, spawnStart } from './support/cli';
import { serverUrl, startTestEngine, stopTestEngine, TEST_TOKEN, TestEngine, tryConnect, uniq } from './support/engine';
import { freePort } from './support/free-port';

let engine: TestEngine;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  engine = await startTestEngine();
  env = { IASQL_API_URL: engine.apiUrl, IASQL_ADMIN_TOKEN: TEST_TOKEN };
});
afterAll(() => stopTestEngine(engine));

describe('iasql db create | list | drop', () => {
  const name = `cli_${uniq()}`;

  test('create prints the connection string once, and it works', async () => {
    const res = await execCli(['db', 'create', name], env);
    expect(res.code).toBe(0);
    const url = /^  (postgres:\/\/\S+)$/m.exec(res.stdout)?.[1];
    expect(res.stdout).toMatch(new RegExp(`^created database ${name} \\(role iasql_[0-9a-f]{12}\\)$`, 'm'));
    expect(await tryConnect(url!)).toBe('connected');
  });

  test('list shows a table with the database', async () => {
    const res = await execCli(['db', 'list'], env);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+USER\s+STATUS\s+ENGINE\s+CREATED$/);
    expect(lines.find((l) => l.startsWith(name + ' '))).toMatch(new RegExp(`^${name}\\s+iasql_[0-9a-f]{12}\\s+ready\\s+0\\.1\\.0\\s+\\d{4}-`));
  });

  test('drop removes it; a second drop says it does not exist', async () => {
    expect(await execCli(['db', 'drop', name], env)).toEqual({ code: 0, stdout: `dropped database ${name}\n`, stderr: '' });
    const again = await execCli(['db', 'drop', name], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`iasql: database '${name}' does not exist; iasql db list (GET /v1/databases) lists the managed databases (HTTP 404)\n`);
  });

  test('errors from the API reach the user', async () => {
    const bad = await execCli(['db', 'create', 'Bad-Name'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^iasql: invalid name 'Bad-Name': a database name starts with a lowercase letter.* \(HTTP 400\)\n$/);
    const unauthorized = await execCli(['db', 'list'], { ...env, IASQL_ADMIN_TOKEN: 'wrong-token-but-long-enough' });
    expect(unauthorized).toEqual({ code: 1, stdout: '', stderr: 'iasql: invalid admin token (HTTP 401)\n' });
  });

  test('usage errors say what to type', async () => {
    for (const args of [['db'], ['db', 'create'], ['db', 'list', 'extra'], ['db', 'rename', 'x']]) {
      expect(await execCli(args, env)).toEqual({ code: 1, stdout: '', stderr: 'iasql: usage: iasql db create NAME | iasql db list | iasql db drop NAME | iasql db password NAME\n' });
    }
    expect(await execCli(['db', 'password'], env)).toEqual({ code: 1, stdout: '', stderr: 'iasql: usage: iasql db create NAME | iasql db list | iasql db drop NAME | iasql db password NAME\n' });
    expect(await execCli(['status', 'extra'], env)).toEqual({ code: 1, stdout: '', stderr: 'iasql: usage: iasql status\n' });
    expect(await execCli(['frobnicate'], env)).toEqual({ code: 1, stdout: '', stderr: "iasql: unknown command 'frobnicate'; run 'iasql help'\n" });
    const help = await execCli(['help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('iasql db create NAME');
  });

  test('an unreachable API is named', async () => {
    const port = await freePort();
    const res = await execCli(['db', 'list'], { ...env, IASQL_API_URL: `http://127.0.0.1:${port}` });
    expect(res).toEqual({
      code: 1,
      stdout: '',
      stderr: `iasql: cannot reach the iasql API at http://127.0.0.1:${port}; is 'iasql start' running? (set IASQL_API_URL)\n`,
    });
  });

  test('without a token, it says where it looked', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-notoken-'));
    const res = await execCli(['db', 'list'], { ...env, IASQL_ADMIN_TOKEN: '', IASQL_HOME: home });
    expect(res.stderr).toBe(
      `iasql: no admin token: set IASQL_ADMIN_TOKEN, or IASQL_HOME to the engine's home (looked in ${home}/admin-token)\n`,
    );
    fs.rmSync(home, { recursive: true });
  });
});

describe('iasql db password | status', () => {
  const name = `cli_pw_${uniq()}`;
  let first: string;
  beforeAll(async () => {
    const res = await execCli(['db', 'create', name], env);
    first = /^  (postgres:\/\/\S+)$/m.exec(res.stdout)![1];
  });
  afterAll(() => execCli(['db', 'drop', name], env));

  test('db password prints a new connection string once; it works and the old password no longer does', async () => {
    const res = await execCli(['db', 'password', name], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^new password for database ${name} \\(role iasql_[0-9a-f]{12}\\); sessions already connected keep working\nconnection string \\(shown once, keep it safe\\):\n  postgres://\\S+\n$`));
    const url = /^  (postgres:\/\/\S+)$/m.exec(res.stdout)![1];
    expect(url).not.toBe(first);
    expect(await tryConnect(url)).toBe('connected');
    expect(await tryConnect(first)).toBe(`password authentication failed for user "${decodeURIComponent(new URL(first).username)}"`);
    const missing = await execCli(['db', 'password', `nope_${uniq()}`], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^iasql: database 'nope_[0-9a-f]+' does not exist; iasql db list \(GET \/v1\/databases\) lists the managed databases \(HTTP 404\)\n$/);
  });

  test('status shows the engine, the queue and each database with its modules', async () => {
    expect((await engine.api('POST', `/v1/databases/${name}/modules`, { install: ['aws_dynamo'] })).status).toBe(200);
    const res = await execCli(['status'], env);
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^engine    iasql 0\.1\.0, pid \d+, up \d+ s$/);
    expect(lines[1]).toMatch(/^queue     \d+ queued, \d+ running, \d+ graphile jobs?$/);
    expect(lines).toContain(lines.find((l) => /^DATABASE\s+STATUS\s+CALLS\s+CHANGE SET\s+MODULES$/.test(l)));
    expect(lines.find((l) => l.startsWith(`${name} `))).toMatch(new RegExp(`^${name}\\s+ready\\s+0 running, 0 queued\\s+-\\s+aws_account@0\\.1\\.0, aws_dynamo@0\\.1\\.0$`));
    const api = await engine.api('GET', '/v1/status');
    expect(api.status).toBe(200);
    expect(api.body.databases.find((d: { name: string }) => d.name === name)).toEqual({
      name,
      status: 'ready',
      modules: ['aws_account@0.1.0', 'aws_dynamo@0.1.0', 'iasql_commit@0.1.0', 'iasql_functions@0.1.0', 'iasql_platform@0.1.0'],
      calls: [],
      commit: null,
    });
  });
});

describe('iasql start configuration', () => {
  test('bad environment variables are all named, and nothing starts', async () => {
    const res = await execCli(['start'], { IASQL_API_PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', IASQL_ADMIN_TOKEN: 'short' });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'iasql: invalid configuration:\n' +
        '  DATABASE_URL: DATABASE_URL must start with postgres:// or postgresql://\n' +
        '  IASQL_API_PORT: IASQL_API_PORT must be a port number\n' +
        '  IASQL_ADMIN_TOKEN: IASQL_ADMIN_TOKEN must be at least 16 characters\n' +
        '  LOG_LEVEL: LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent\n',
    );
  });

  test('with DATABASE_URL it uses that server and starts no embedded Postgres', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-external-'));
    const meta = `meta_ext_${uniq()}`;
    const started = await spawnStart({
      DATABASE_URL: serverUrl(),
      IASQL_HOME: home,
      IASQL_API_PORT: String(await freePort()),
      IASQL_METADATA_DB: meta,
      IASQL_DEFAULT_DATABASE: `first_${uniq()}`,
      IASQL_ADMIN_TOKEN: TEST_TOKEN,
    });
    try {
      const port = new URL(serverUrl()).port;
      expect(started.stdout()).toMatch(new RegExp(`^iasql ready api=http://127\\.0\\.0\\.1:\\d+ postgres=127\\.0\\.0\\.1:${port}$`, 'm'));
      expect(started.stdout()).toContain('Admin token   from IASQL_ADMIN_TOKEN');
      expect(fs.existsSync(path.join(home, 'pg'))).toBe(false);
      const url = fs.readFileSync(fs.readdirSync(path.join(home, 'databases')).map((f) => path.join(home, 'databases', f))[0], 'utf8').trim();
      expect(url).toContain(`@127.0.0.1:${port}/first_`);
      expect(await tryConnect(url)).toBe('connected');
    } finally {
      started.child.kill('SIGINT');
      expect(await started.exited).toBe(0);
      // Clean up what it created on the shared server.
      const cleanup = await startTestEngine({ metadataDatabase: meta });
      await stopTestEngine(cleanup);
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
