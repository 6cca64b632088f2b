import { ephemeralAdvice } from '../src/ports';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateFunctionCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { execCli, spawnStart } from './support/cli';
import { dropDatabasesAndOwners, serverUrl, TEST_TOKEN, uniq, withClient } from './support/engine';
import { freePort } from './support/free-port';
import { alive, eventually, lambdaClient, lambdaRole, seedAccount, zip } from './support/localcloud';

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

// The engine on the run's Postgres (DATABASE_URL), quicker than an embedded one; the local cloud
// is then off unless IASQL_LOCAL_CLOUD asks for it. test/engine.start.test.ts covers the default
// (on, with the embedded Postgres).
let home: string;
const metas: string[] = [];
async function engineEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const meta = `meta_lc_${uniq()}`;
  metas.push(meta);
  return {
    DATABASE_URL: serverUrl(),
    IASQL_HOME: home,
    IASQL_API_PORT: String(await freePort()),
    IASQL_METADATA_DB: meta,
    IASQL_DEFAULT_DATABASE: '',
    IASQL_ADMIN_TOKEN: TEST_TOKEN,
    ...extra,
  };
}
beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-lc-start-'));
});
afterAll(async () => {
  await dropDatabasesAndOwners(metas);
  fs.rmSync(home, { recursive: true, force: true });
});

describe('iasql start with the local cloud', () => {
  test('prints the local cloud line; the endpoint answers ListTables; data under IASQL_HOME/localcloud; Ctrl-C stops it', async () => {
    const port = await freePort();
    // The engine's local cloud runs in the child process: its account is written before it starts.
    const account = seedAccount(path.join(home, 'localcloud'), 'start-test');
    const started = await spawnStart(await engineEnv({ IASQL_LOCAL_CLOUD: 'true', IASQL_LOCAL_CLOUD_PORT: String(port) }));
    const endpoint = `http://127.0.0.1:${port}`;
    const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey } });
    try {
      expect(started.stdout()).toContain(`\nLocal cloud   ${endpoint}  (DynamoDB, Lambda, IAM; an account per database, signed requests only)\n`);
      // Tests run as root: handlers are sandboxed whatever IASQL_LOCAL_CLOUD_INVOKE says.
      expect(started.stdout()).toMatch(/\n {14}Lambda handlers run sandboxed as per-account users, in a box: no network, own pid namespace, limits by [^\n]+\n/);
      expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      await ddb.send(
        new CreateTableCommand({
          TableName: 'started',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        }),
      );
      expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual(['started']);
      expect(fs.existsSync(path.join(home, 'localcloud', 'dynamodb', account.accountId, 'us-east-1', 'CURRENT'))).toBe(true);
    } finally {
      ddb.destroy();
      started.child.kill('SIGINT');
      expect(await started.exited).toBe(0);
    }
    expect(await portOpen(port)).toBe(false);
  });

  test.each(['SIGINT', 'SIGKILL'] as const)('warm Lambda instances end with the engine (%s)', async (signal) => {
    const port = await freePort();
    // On disk (IASQL_LOCAL_CLOUD=true), in a home of its own: so that its account can be written first.
    const own = path.join(home, `instances-${signal}`);
    const account = seedAccount(path.join(own, 'localcloud'), 'instances-test');
    const started = await spawnStart(await engineEnv({ IASQL_HOME: own, IASQL_LOCAL_CLOUD: 'true', IASQL_LOCAL_CLOUD_PORT: String(port) }));
    let pids: number[];
    try {
      const cloud = { endpoint: `http://127.0.0.1:${port}` };
      const lambda = lambdaClient(cloud, account);
      const role = await lambdaRole(cloud, account);
      await lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'pid',
          Runtime: 'nodejs20.x',
          Role: role,
          Handler: 'index.handler',
          Code: { ZipFile: zip({ 'index.js': 'exports.handler = async () => ({ pid: process.pid, uid: process.getuid() });' }) },
        }),
      );
      const { Payload } = await lambda.send(new InvokeCommand({ FunctionName: 'pid' }));
      const { pid, uid } = JSON.parse(Buffer.from(Payload!).toString());
      // As root the instance is pid 1 of its own namespace: its bootstrap on the host, by its user.
      pids = uid === process.getuid!() ? [pid] : processesOfUid(uid);
      expect(pids.length).toBeGreaterThan(0);
      expect(pids.every(alive)).toBe(true);
    } finally {
      started.child.kill(signal);
      await started.exited;
    }
    // Ctrl-C stops the instances; after a kill -9 they see the engine's IPC channel close and exit.
    if (signal === 'SIGINT') expect(pids.some(alive)).toBe(false);
    else await eventually(() => !pids.some(alive), 10_000, 'the orphaned instance to exit');
  });

  test('IASQL_LOCAL_CLOUD=false: no local cloud, no line', async () => {
    const port = await freePort();
    const started = await spawnStart(await engineEnv({ IASQL_LOCAL_CLOUD: 'false', IASQL_LOCAL_CLOUD_PORT: String(port), IASQL_HOME: path.join(home, 'off') }));
    try {
      expect(started.stdout()).not.toContain('Local cloud');
      expect(await portOpen(port)).toBe(false);
      expect(fs.existsSync(path.join(home, 'off', 'localcloud'))).toBe(false);
    } finally {
      started.child.kill('SIGINT');
      expect(await started.exited).toBe(0);
    }
  });

  test('a taken IASQL_LOCAL_CLOUD_PORT: exit 1 with a message naming the variable, before touching Postgres', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const env = await engineEnv({ IASQL_LOCAL_CLOUD: 'true', IASQL_LOCAL_CLOUD_PORT: String(port) });
      const res = await execCli(['start'], env);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(
        `iasql: port ${port} on 127.0.0.1 (local cloud) is already in use${ephemeralAdvice(port)}; set IASQL_LOCAL_CLOUD_PORT to another port, or IASQL_LOCAL_CLOUD=false\n`,
      );
      const { rowCount } = await withClient(serverUrl(), (c) => c.query('select 1 from pg_database where datname = $1', [env.IASQL_METADATA_DB]));
      expect(rowCount).toBe(0);
    } finally {
      taken.close();
    }
  });
});

/** Pids of the Lambda bootstraps whose real uid is `uid`. */
function processesOfUid(uid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return Number(/^Uid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) === uid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lambda-child');
    } catch {
      return false;
    }
  });
}

describe('local cloud configuration', () => {
  test('bad values are named, and nothing starts', async () => {
    const res = await execCli(['start'], { IASQL_LOCAL_CLOUD: 'yes', IASQL_LOCAL_CLOUD_PORT: '70000' });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'iasql: invalid configuration:\n' +
        '  IASQL_LOCAL_CLOUD: IASQL_LOCAL_CLOUD must be true, false or memory\n' +
        '  IASQL_LOCAL_CLOUD_PORT: IASQL_LOCAL_CLOUD_PORT must be between 0 and 65535\n',
    );
  });
});
