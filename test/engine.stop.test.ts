import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, spawnStart, StartedEngine } from './support/cli';
import { serverUrl, startTestEngine, stopTestEngine, TEST_TOKEN, uniq, withClient } from './support/engine';
import { freePort } from './support/free-port';
import { FIXTURE_MODULES } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const FIXTURES = path.join(ROOT, 'dist', 'test', 'fixtures', 'modules');
/** The JSON log lines of a run at WARN or above. */
const warnings = (log: string) => log.split('\n').filter((l) => /"level":(40|50|60)\b/.test(l));

const api = async (port: number, method: string, route: string, body?: unknown) =>
  (await fetch(`http://127.0.0.1:${port}${route}`, {
    method,
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then((r) => r.json())) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Ctrl-C with nothing running (embedded Postgres)', () => {
  test('stops with exit 0 and no warning, also after calls left pooled connections', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-stop-'));
    const port = await freePort();
    const env = {
      DATABASE_URL: '',
      IASQL_HOME: home,
      IASQL_API_PORT: String(port),
      IASQL_PG_PORT: String(await freePort()),
      IASQL_LOCAL_CLOUD_PORT: String(await freePort()),
      IASQL_ADMIN_TOKEN: TEST_TOKEN,
      IASQL_MODULE_PATH: FIXTURES,
      LOG_LEVEL: 'info',
    };
    let run: StartedEngine | undefined;
    try {
      run = await spawnStart(env, 120_000);
      await api(port, 'POST', '/v1/databases/iasql/modules', { install: ['fixture_rpc'] });
      const c = await connect(fs.readFileSync(path.join(home, 'databases', 'iasql.url'), 'utf8').trim());
      expect((await c.query('select rpc_add(1, 2) as v')).rows).toEqual([{ v: 3 }]);
      await c.end();
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      // Postgres' fast shutdown ends the engine's pooled connections: expected, so not a warning.
      expect(warnings(run.stderr())).toEqual([]);
    } finally {
      if (run && run.child.exitCode === null) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('Ctrl-C while a call runs', () => {
  const meta = `meta_stop_${uniq()}`;
  let home: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let db: { name: string; connectionString: string };
  let run: StartedEngine | undefined;

  const lastCall = () => withClient(serverUrl(meta), async (m) => (await m.query(`select id, status from rpc_call order by id desc limit 1`)).rows[0]);
  /** Starts `iasql start` with a grace period, and a call of rpc_sleep(60000) that is running. */
  async function startWithRunningCall(graceMs: number) {
    run = await spawnStart({ ...env, IASQL_SHUTDOWN_GRACE_MS: String(graceMs) });
    db ??= await api(port, 'POST', '/v1/databases', { name: `stop_${uniq()}` });
    await api(port, 'POST', `/v1/databases/${db.name}/modules`, { install: ['fixture_rpc'] });
    const c = await connect(db.connectionString);
    const pending = sqlError(c, 'select rpc_sleep(60000)').finally(() => c.end());
    await waitFor('a running call', async () => ((await lastCall())?.status === 'running' ? true : undefined));
    return { run, pending };
  }

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-stop-'));
    port = await freePort();
    env = {
      DATABASE_URL: serverUrl(),
      IASQL_HOME: home,
      IASQL_API_PORT: String(port),
      IASQL_METADATA_DB: meta,
      IASQL_DEFAULT_DATABASE: '',
      IASQL_ADMIN_TOKEN: TEST_TOKEN,
      IASQL_MODULE_PATH: FIXTURES,
      LOG_LEVEL: 'info',
    };
  });
  afterEach(async () => {
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  });
  afterAll(async () => {
    const cleanup = await startTestEngine({ metadataDatabase: meta, modulePath: [FIXTURE_MODULES] });
    await stopTestEngine(cleanup);
    fs.rmSync(home, { recursive: true, force: true });
  });

  test('says which call runs, waits the grace period, then ends it: the caller gets IQ005 with what to check', async () => {
    const { run, pending } = await startWithRunningCall(300);
    run.child.kill('SIGINT');
    expect(await pending).toEqual({
      code: 'IQ005',
      message: 'rpc fixture_rpc.rpc_sleep: the engine stopped before this call finished',
      detail: undefined,
      hint: 'the call may have been partly done: check its effects before calling again',
    });
    expect(await run.exited).toBe(0);
    const [waiting] = warnings(run.stderr()).map((l) => JSON.parse(l));
    expect(waiting).toMatchObject({
      msg: 'stopping: waiting up to 300 ms for 1 running call, then ending them (Ctrl-C again: end them now)',
      calls: [expect.stringMatching(new RegExp(`^fixture_rpc\\.rpc_sleep in database ${db.name} \\(call \\d+\\)$`))],
      commits: [],
    });
    expect((await lastCall()).status).toBe('failed');
  });

  test('a second Ctrl-C ends the running call at once', async () => {
    const { run, pending } = await startWithRunningCall(600_000);
    run.child.kill('SIGINT');
    await waitFor('the stop to say what runs', () => (/stopping: waiting up to 600000 ms/.test(run.stderr()) ? true : undefined));
    run.child.kill('SIGINT');
    expect(await pending).toMatchObject({ code: 'IQ005', message: 'rpc fixture_rpc.rpc_sleep: the engine stopped before this call finished' });
    expect(await run.exited).toBe(0);
  });
});
