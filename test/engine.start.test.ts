import { ephemeralAdvice } from '../src/ports';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { tryConnect, withClient } from './support/engine';
import { spawn } from 'node:child_process';
import { CLI, spawnStart, StartedEngine } from './support/cli';
import { freePort } from './support/free-port';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

// The new user's path: `iasql start` with no DATABASE_URL starts its own Postgres under IASQL_HOME.
let home: string;
let env: NodeJS.ProcessEnv;
let running: StartedEngine | undefined;

const clients: DynamoDBClient[] = [];
// The first database's own local-cloud account, from the file the start writes for the AWS CLI.
const firstAccount = () => {
  const vars = Object.fromEntries(
    fs.readFileSync(path.join(home, 'databases', 'iasql.aws-env'), 'utf8').trim().split('\n').map((l) => l.replace(/^export /, '').split('=') as [string, string]),
  );
  return { accessKeyId: vars.AWS_ACCESS_KEY_ID, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY };
};
const dynamo = () => {
  const c = new DynamoDBClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${env.IASQL_LOCAL_CLOUD_PORT}`, credentials: firstAccount() });
  clients.push(c);
  return c;
};
const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-start-'));
  env = {
    DATABASE_URL: '',
    IASQL_HOME: home,
    IASQL_API_PORT: String(await freePort()),
    IASQL_PG_PORT: String(await freePort()),
    IASQL_LOCAL_CLOUD_PORT: String(await freePort()),
    IASQL_ADMIN_TOKEN: '',
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGINT');
    await running.exited;
  }
  fs.rmSync(home, { recursive: true, force: true });
});

describe('iasql start on the embedded Postgres', () => {
  let url: string;
  let token: string;

  test('first start: prints the API, token file, a psql command, then the ready line', async () => {
    running = await spawnStart(env);
    const out = running.stdout();
    const lines = out.trim().split('\n');
    expect(lines[lines.length - 1]).toBe(`iasql ready api=http://127.0.0.1:${env.IASQL_API_PORT} postgres=127.0.0.1:${env.IASQL_PG_PORT}`);
    expect(out).toContain(`Admin token   ${home}/admin-token   (mode 0600)`);
    expect(out).toContain(`Connect       psql "$(cat ${home}/databases/iasql.url)"`);
    // Without DATABASE_URL the local cloud is on.
    expect(out).toContain(`Local cloud   http://127.0.0.1:${env.IASQL_LOCAL_CLOUD_PORT}  (DynamoDB, Lambda, IAM; an account per database, signed requests only)`);
    expect(out).toContain(`AWS CLI       . ${home}/databases/iasql.aws-env && aws dynamodb list-tables   (that database's local-cloud account)`);
    expect(fs.statSync(path.join(home, 'databases', 'iasql.aws-env')).mode & 0o777).toBe(0o600);
    await dynamo().send(new CreateTableCommand({ TableName: 'kept', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] }));
    expect(fs.statSync(path.join(home, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(home, 'databases', 'iasql.url')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(home, 'pg-password')).mode & 0o777).toBe(0o600);
    token = fs.readFileSync(path.join(home, 'admin-token'), 'utf8').trim();
    url = fs.readFileSync(path.join(home, 'databases', 'iasql.url'), 'utf8').trim();
    expect(url).toMatch(new RegExp(`^postgres://iasql_[0-9a-f]{12}:[A-Za-z0-9_-]+@127\\.0\\.0\\.1:${env.IASQL_PG_PORT}/iasql$`));
    // Secrets never reach the output.
    for (const secret of [token, url, url.split(':')[2].split('@')[0], fs.readFileSync(path.join(home, 'pg-password'), 'utf8').trim()]) {
      expect(out + running.stderr()).not.toContain(secret);
    }
    await withClient(url, (c) => c.query(`create table kept (v text); insert into kept values ('before restart')`));
    const res = await fetch(`http://127.0.0.1:${env.IASQL_API_PORT}/v1/databases`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as any).databases.map((d: { name: string }) => d.name)).toEqual(['iasql']);
  });

  test('Ctrl-C (SIGINT) stops the API, the embedded Postgres and the local cloud, exit code 0', async () => {
    running!.child.kill('SIGINT');
    expect(await running!.exited).toBe(0);
    // A start and a clean stop print no process warning (a deprecation, the AWS SDK's Node-version warning, ...).
    expect(running!.stderr()).not.toMatch(/\(node:\d+\) (\[\w+\] )?\w*Warning/);
    expect(await portOpen(Number(env.IASQL_API_PORT))).toBe(false);
    expect(await portOpen(Number(env.IASQL_PG_PORT))).toBe(false);
    expect(await portOpen(Number(env.IASQL_LOCAL_CLOUD_PORT))).toBe(false);
  });

  test('restart finds every database, row and local cloud table as it was, same token, no second first database', async () => {
    running = await spawnStart(env);
    expect(fs.readFileSync(path.join(home, 'admin-token'), 'utf8').trim()).toBe(token);
    expect((await dynamo().send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
    const rows = await withClient(url, (c) => c.query('select v from kept'));
    expect(rows.rows).toEqual([{ v: 'before restart' }]);
    const res = await fetch(`http://127.0.0.1:${env.IASQL_API_PORT}/v1/databases`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as any).databases.map((d: { name: string }) => d.name)).toEqual(['iasql']);
  });

  test('after SIGKILL, the next start recovers and loses nothing', async () => {
    await withClient(url, (c) => c.query(`insert into kept values ('before kill')`));
    running!.child.kill('SIGKILL');
    await running!.exited;
    running = await spawnStart(env);
    expect(running.stderr()).toContain('embedded Postgres from an earlier run is still up: restarting it');
    const rows = await withClient(url, (c) => c.query('select v from kept order by v'));
    expect(rows.rows).toEqual([{ v: 'before kill' }, { v: 'before restart' }]);
    expect(await tryConnect(url)).toBe('connected');
    expect((await dynamo().send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
  });

  test('a second engine on the same API port fails with a message naming the variable to change', async () => {
    const clashHome = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-clash-'));
    const pgPort = await freePort();
    const clash = await spawnStart({ ...env, IASQL_HOME: clashHome, IASQL_PG_PORT: String(pgPort), IASQL_LOCAL_CLOUD_PORT: '0' }).catch((e: Error) => e.message);
    fs.rmSync(clashHome, { recursive: true, force: true });
    // It stopped the embedded Postgres it had started.
    expect(await portOpen(pgPort)).toBe(false);
    // A port the kernel picked (freePort) lies in its ephemeral range: the message says so too.
    expect(clash).toContain(`port ${env.IASQL_API_PORT} on 127.0.0.1 is already in use${ephemeralAdvice(Number(env.IASQL_API_PORT))}; set IASQL_API_PORT to another port`);
  });
});

describe('Ctrl-C during start-up', () => {
  test('the start finishes, then everything stops cleanly: exit 0, no Postgres left running', async () => {
    const home2 = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-ctrlc-'));
    const pgPort = await freePort();
    const child = spawn(process.execPath, [CLI, 'start'], {
      env: { ...process.env, ...env, IASQL_HOME: home2, IASQL_PG_PORT: String(pgPort), IASQL_API_PORT: String(await freePort()), IASQL_LOCAL_CLOUD_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Interrupt right after initdb, while the engine is still starting.
    await new Promise<void>((resolve) =>
      child.stderr!.on('data', (d) => {
        err += d;
        if (err.includes('initialised embedded Postgres cluster')) resolve();
      }),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(err).toContain('stop requested during start-up: shutting down');
    expect(await portOpen(pgPort)).toBe(false);
    fs.rmSync(home2, { recursive: true, force: true });
  });
});
