import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateFunctionCommand, type CreateFunctionCommandInput, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { resolveAdminToken, tokenFile } from '../src/admin-token';
import { startLocalCloud, type LocalCloud } from '../src/localcloud';
import { codeSha256 } from '../src/localcloud/lambda-code';
import { LambdaRuntime } from '../src/localcloud/lambda-runtime';
import { accountUser, invokeIsolation, isolationBanner, notRunnableByOthers, removeTree } from '../src/localcloud/lambda-sandbox';
import type { FunctionConfig } from '../src/localcloud/lambda-store';
import { LambdaError } from '../src/localcloud/lambda-validate';
import { createLogger } from '../src/logger';
import { alive, eventually, lambdaChildren, lambdaClient, lambdaRole, newAccount, zip } from './support/localcloud';
import type { LocalAccount } from '../src/localcloud';

// Every tenant is hostile: these handlers try to reach what the engine keeps from them. The test
// machine and CI run as root, where the local cloud runs each account's handlers as its own
// unprivileged user. Each expectation that something fails comes with a control that shows the
// same attempt succeeds where it should (the engine reads it, or a handler of the same account),
// so that a broken probe cannot pass for a working sandbox.

const logger = createLogger('silent');
// The sandbox needs root (CI and the test machine run as root); a developer's run as another user
// skips those tests and still runs the ones of an engine that is not root.
const describeAsRoot = process.getuid?.() === 0 ? describe : describe.skip;

// What the engine's environment holds and no handler may see.
const ENGINE_SECRET = `engine-secret-${randomUUID()}`;
const savedDatabaseUrl = process.env.DATABASE_URL;
process.env.DATABASE_URL = `postgres://iasql:${ENGINE_SECRET}@127.0.0.1:5433/iasql_metadata`;
process.env.IASQL_TEST_SANDBOX_SECRET = ENGINE_SECRET;

/**
 * Tries each operation and reports `{ok, value}` or `{ok: false, code}`. `${VAR}` in a path is the
 * handler's own environment variable (its TMPDIR, its LAMBDA_TASK_ROOT).
 */
const PROBER = `
const fs = require('fs');
const expand = (p) => p.replace(/\\$\\{(\\w+)\\}/g, (_, k) => process.env[k]);
const attempt = (f) => { try { return { ok: true, value: f() }; } catch (err) { return { ok: false, code: err.code }; } };
exports.handler = async (e) => ({
  uid: process.getuid(), gid: process.getgid(), ppid: process.ppid, pid: process.pid,
  status: fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^(Uid|Gid|Groups|CapEff):/.test(l)),
  env: process.env,
  read: Object.fromEntries((e.read || []).map((p) => [p, attempt(() => fs.readFileSync(expand(p), 'utf8'))])),
  list: Object.fromEntries((e.list || []).map((p) => [p, attempt(() => fs.readdirSync(expand(p)))])),
  write: Object.fromEntries((e.write || []).map((p) => [p, attempt(() => { fs.writeFileSync(expand(p), 'written by a handler'); return fs.readFileSync(expand(p), 'utf8'); })])),
  signal: Object.fromEntries((e.signal || []).map((pid) => [pid, attempt(() => process.kill(pid, 0))])),
});`;

type Attempt = { ok: true; value: unknown } | { ok: false; code: string };
interface Probe {
  uid: number;
  gid: number;
  ppid: number;
  pid: number;
  status: string[];
  env: Record<string, string>;
  read: Record<string, Attempt>;
  list: Record<string, Attempt>;
  write: Record<string, Attempt>;
  signal: Record<string, Attempt>;
}
interface ProbeRequest {
  read?: string[];
  list?: string[];
  write?: string[];
  signal?: number[];
}
const denied = { ok: false, code: 'EACCES' };
/** The account of the runtime-level tests that need only one. */
const A_ACCOUNT = '333333333333';

describeAsRoot('through the SDK: a handler of the local cloud cannot reach the engine', () => {
  let home: string;
  let cloud: LocalCloud;
  let lambda: LambdaClient;
  let account: LocalAccount;

  beforeAll(async () => {
    // IASQL_HOME as the engine makes it: 0711, secrets 0600 inside, Postgres's data 0700, the
    // local cloud's data (other functions' code and environments) under localcloud/.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-sandbox-home-'));
    fs.chmodSync(home, 0o711);
    resolveAdminToken(home);
    fs.writeFileSync(path.join(home, 'pg-password'), `${ENGINE_SECRET}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(home, 'pg'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, 'pg', 'PG_VERSION'), '17\n', { mode: 0o600 });
    cloud = await startLocalCloud({ port: 0, logger, dataDir: path.join(home, 'localcloud') });
    account = await newAccount(cloud);
    lambda = lambdaClient(cloud, account);
    const role = await lambdaRole(cloud, account);
    const deploy = (name: string, source: string, extra: Partial<CreateFunctionCommandInput> = {}) =>
      lambda.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: role, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': source }) }, ...extra }));
    await deploy('prober', PROBER, { Environment: { Variables: { OWN_VARIABLE: 'mine' } } });
    // Another function, whose environment is stored in the local cloud's data directory.
    await deploy('other', 'exports.handler = async () => 1;', { Environment: { Variables: { OTHER_SECRET: ENGINE_SECRET } } });
  });

  afterAll(async () => {
    await cloud?.stop();
    fs.rmSync(home, { recursive: true, force: true });
    if (savedDatabaseUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedDatabaseUrl;
    delete process.env.IASQL_TEST_SANDBOX_SECRET;
  });

  async function probe(request: ProbeRequest): Promise<Probe> {
    const r = await lambda.send(new InvokeCommand({ FunctionName: 'prober', Payload: Buffer.from(JSON.stringify(request)) }));
    const text = Buffer.from(r.Payload!).toString('utf8');
    if (r.FunctionError) throw new Error(`the prober failed: ${text}`);
    return JSON.parse(text);
  }

  test('a normal handler works: returns its result, sees its own variable, writes its TMPDIR and HOME', async () => {
    const p = await probe({ write: ['${TMPDIR}/scratch', '${HOME}/.aws-config-like'] });
    expect(p.env.OWN_VARIABLE).toBe('mine');
    expect(p.write['${TMPDIR}/scratch']).toEqual({ ok: true, value: 'written by a handler' });
    expect(p.write['${HOME}/.aws-config-like']).toEqual({ ok: true, value: 'written by a handler' });
    expect(p.env.HOME).toBe(p.env.TMPDIR);
    // The TMPDIR is its own: 0700, owned by the handler's user.
    const st = fs.statSync(p.env.TMPDIR);
    expect({ uid: st.uid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: p.uid, mode: '700' });
  });

  test('it runs as an unprivileged user: not root, its own group only, no capabilities', async () => {
    const p = await probe({});
    expect(p.uid).not.toBe(0);
    expect(p.gid).not.toBe(0);
    expect(p.uid).toBe(accountUser(account.accountId).uid);
    expect(p.status.map((line) => line.trimEnd())).toEqual([
      `Uid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}`,
      `Gid:\t${p.gid}\t${p.gid}\t${p.gid}\t${p.gid}`,
      'Groups:', // none
      'CapEff:\t0000000000000000',
    ]);
    // It is the init of its own pid namespace (the box); control: the engine that started it is root.
    expect({ pid: p.pid, ppid: p.ppid }).toEqual({ pid: 1, ppid: 0 });
    expect(process.getuid!()).toBe(0);
  });

  test("it cannot read IASQL_HOME: the admin token, Postgres's password and data, the local cloud's data", async () => {
    const lambdaData = path.join(home, 'localcloud', 'lambda', account.accountId, 'us-east-1');
    const secrets = [tokenFile(home), path.join(home, 'pg-password'), path.join(home, 'pg', 'PG_VERSION'), path.join(lambdaData, 'other.json'), path.join(lambdaData, 'other.zip')];
    const dirs = [home, path.join(home, 'pg'), path.join(home, 'localcloud'), lambdaData];
    // Control: they exist, and the engine reads them (other.json holds the other function's variable).
    for (const file of secrets) expect(fs.readFileSync(file).length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(lambdaData, 'other.json'), 'utf8')).toContain(ENGINE_SECRET);
    expect((fs.statSync(path.join(home, 'localcloud')).mode & 0o777).toString(8)).toBe('700');

    const p = await probe({ read: secrets, list: dirs });
    for (const file of secrets) expect([file, p.read[file]]).toEqual([file, denied]);
    for (const dir of dirs) expect([dir, p.list[dir]]).toEqual([dir, denied]);
  });

  test("it cannot read the engine's environment: not inherited, not through /proc", async () => {
    const p = await probe({ read: [`/proc/${process.pid}/environ`, '/proc/1/environ'] });
    expect(JSON.stringify(p.env)).not.toContain(ENGINE_SECRET);
    expect(p.env.DATABASE_URL).toBeUndefined();
    // Only Lambda's variables, the function's own, and what a process needs to run.
    expect(Object.keys(p.env).filter((k) => !/^(AWS_|LAMBDA_|_HANDLER$|PATH$|LANG$|TZ$|TMPDIR$|HOME$|OWN_VARIABLE$)/.test(k))).toEqual([]);
    // In its pid namespace the engine is not there at all, and /proc/1 is the handler itself.
    expect(p.read[`/proc/${process.pid}/environ`]).toEqual({ ok: false, code: 'ENOENT' });
    expect(p.read['/proc/1/environ']).toMatchObject({ ok: true });
    expect(JSON.stringify(p.read['/proc/1/environ'])).not.toContain(ENGINE_SECRET);
    // Control: /proc/<engine>/environ (the environment the engine started with) is there for
    // whoever may read it.
    expect(fs.readFileSync(`/proc/${process.pid}/environ`, 'utf8')).toMatch(/(^|\0)PATH=/);
  });

  test('it cannot write outside its TMPDIR: not its code, the work directory, IASQL_HOME, /etc; what it leaves in /tmp is its own', async () => {
    const shared = path.join(os.tmpdir(), `iasql-sandbox-left-${randomUUID()}`);
    const targets = ['${LAMBDA_TASK_ROOT}/index.js', '${LAMBDA_TASK_ROOT}/new.js', '${TMPDIR}/../planted', `${home}/planted`, `${home}/localcloud/planted`, '/etc/iasql-planted'];
    try {
      const p = await probe({ write: [...targets, shared] });
      for (const target of targets) expect([target, p.write[target]]).toEqual([target, denied]);
      // /tmp is writable by every user of the machine, handlers included (see docs/local-cloud.md);
      // their umask keeps what they leave there unreadable to other users.
      expect(p.write[shared]).toEqual({ ok: true, value: 'written by a handler' });
      const st = fs.statSync(shared);
      expect({ uid: st.uid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: p.uid, mode: '600' });
      // The code it runs is unchanged.
      expect(fs.readFileSync(path.join(p.env.LAMBDA_TASK_ROOT, 'index.js'), 'utf8')).toBe(PROBER);
    } finally {
      for (const file of [shared, '/etc/iasql-planted']) fs.rmSync(file, { force: true });
    }
  });
});

/** A function's configuration as the store keeps it, in `account`. */
function functionConfig(account: string, name: string, source: string, variables: Record<string, string> = {}): { config: FunctionConfig; zip: () => Buffer } {
  const code = Buffer.from(zip({ 'index.js': source }));
  return {
    zip: () => code,
    config: {
      FunctionName: name,
      FunctionArn: `arn:aws:lambda:us-east-1:${account}:function:${name}`,
      Runtime: 'nodejs20.x',
      Role: `arn:aws:iam::${account}:role/lambda`,
      Handler: 'index.handler',
      CodeSize: code.length,
      Description: '',
      Timeout: 10,
      MemorySize: 128,
      LastModified: new Date().toISOString(),
      CodeSha256: codeSha256(code),
      Version: '$LATEST',
      Environment: { Variables: variables },
      TracingConfig: { Mode: 'PassThrough' },
      RevisionId: randomUUID(),
      PackageType: 'Zip',
      Architectures: ['x86_64'],
      EphemeralStorage: { Size: 512 },
      SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
      LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${name}` },
    },
  };
}

/** Host pids of the bootstraps (the Node.js of each instance) running as `uid`. */
function instancePidsOf(uid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]) === uid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`${process.execPath}\0`);
    } catch {
      return false;
    }
  });
}

async function invokeJson<T>(runtime: LambdaRuntime, fn: { config: FunctionConfig; zip: () => Buffer }, event: unknown = {}): Promise<T> {
  const outcome = await runtime.invoke('us-east-1', fn.config, fn.zip, randomUUID(), JSON.stringify(event));
  if (outcome.functionError) throw new Error(`${fn.config.FunctionArn} failed: ${outcome.payload}`);
  return JSON.parse(outcome.payload);
}

// Accounts come from the function ARN. Until the local cloud serves several accounts through its
// API, these tests give the runtime configurations of two accounts directly.
describeAsRoot('between accounts (the runtime, with function ARNs of two accounts)', () => {
  const A = '111111111111';
  const B = '222222222222';
  let runtime: LambdaRuntime;
  beforeEach(() => {
    runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9');
  });
  afterEach(() => runtime.stop());

  const holder = (account: string) =>
    functionConfig(account, 'holder', 'exports.handler = async () => ({ pid: process.pid, tmp: process.env.TMPDIR, root: process.env.LAMBDA_TASK_ROOT, uid: process.getuid() });', {
      ACCOUNT_SECRET: `secret-of-${account}`,
    });

  test("a handler cannot read another account's function: its /proc environment, code, TMPDIR, nor signal it; the same account's can", async () => {
    const a = await invokeJson<{ pid: number; tmp: string; root: string; uid: number }>(runtime, holder(A));
    // In the box each instance has its own pid namespace: A's instance, by its pid on the host.
    const [hostPid] = instancePidsOf(a.uid);
    // Control: it is there, for the engine. (The function's variables reach the bootstrap in its
    // first message, not its exec, so even this file does not hold them.)
    expect(fs.readFileSync(`/proc/${hostPid}/environ`, 'utf8')).toMatch(/(^|\0)PATH=/);
    const request: ProbeRequest = {
      read: [`/proc/${hostPid}/environ`, path.join(a.root, 'index.js')],
      list: [a.tmp, a.root],
      write: [path.join(a.tmp, 'planted')],
      signal: [hostPid],
    };
    const other = await invokeJson<Probe>(runtime, functionConfig(B, 'snooper', PROBER), request);
    expect(other.uid).not.toBe(a.uid);
    expect(other.read).toEqual({ [`/proc/${hostPid}/environ`]: { ok: false, code: 'ENOENT' }, [path.join(a.root, 'index.js')]: denied });
    expect(other.list).toEqual({ [a.tmp]: denied, [a.root]: denied });
    expect(other.write).toEqual({ [path.join(a.tmp, 'planted')]: denied });
    expect(other.signal).toEqual({ [hostPid]: { ok: false, code: 'ESRCH' } });

    // Control: a function of A's own account runs as the same user and sees its files. (An account
    // is the boundary, as a tenant's functions share its data anyway; processes are the instance's.)
    const same = await invokeJson<Probe>(runtime, functionConfig(A, 'sibling', PROBER), request);
    expect(same.uid).toBe(a.uid);
    expect(same.read[path.join(a.root, 'index.js')]).toMatchObject({ ok: true });
    expect(same.list[a.tmp]).toEqual({ ok: true, value: [] });
    expect(same.read[`/proc/${hostPid}/environ`]).toEqual({ ok: false, code: 'ENOENT' });
  });

  test('functions of the same name in two accounts have their own pools; retire with an account id ends only that one', async () => {
    const [inA, inB] = [holder(A), holder(B)];
    // Every instance is pid 1 of its own namespace: told apart by their pids on the host.
    const hostPid = async (fn: typeof inA) => {
      const { uid } = await invokeJson<{ uid: number }>(runtime, fn);
      const pids = instancePidsOf(uid);
      expect(pids).toHaveLength(1);
      return pids[0];
    };
    const first = { a: await hostPid(inA), b: await hostPid(inB) };
    expect(first.a).not.toBe(first.b);
    expect(await hostPid(inA)).toBe(first.a); // warm, each in its own pool
    runtime.retire('us-east-1', 'holder', A);
    await eventually(() => !alive(first.a), 5000, "A's instance to end");
    expect(alive(first.b)).toBe(true);
    expect(await hostPid(inB)).toBe(first.b);
    // Without an account id: that name and region in every account.
    const second = await hostPid(inA);
    runtime.retire('us-east-1', 'holder');
    await eventually(() => !alive(second) && !alive(first.b), 5000, 'both instances to end');
  });

  test('each account has its own user, stable, in the sandbox range; accounts whose hashes meet still get two users', () => {
    const a = accountUser(A);
    expect(accountUser(A)).toEqual(a);
    expect(a.gid).toBe(a.uid);
    expect(accountUser(B).uid).not.toBe(a.uid);
    for (const { uid } of [a, accountUser(B)]) {
      expect(uid).toBeGreaterThanOrEqual(0x7000_0000);
      expect(uid).toBeLessThan(0x8000_0000);
    }
    // Two account ids whose hashes land on the same slot (a birthday search: ~20,000 hashes).
    const bySlot = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; !pair; n++) {
      const id = String(900000000000 + n);
      const slot = createHash('sha256').update(id).digest().readUInt32BE(0) % 0x1000_0000;
      const seen = bySlot.get(slot);
      if (seen) pair = [seen, id];
      else bySlot.set(slot, id);
    }
    expect(accountUser(pair[0]).uid).not.toBe(accountUser(pair[1]).uid);
  });
});

describeAsRoot("removing what handlers wrote", () => {
  test("a handler's TMPDIR is removed as its own user once the instance ends, and the work directory on stop", async () => {
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9');
    const fn = functionConfig(A_ACCOUNT, 'leaver', 'exports.handler = async () => { const fs = require("fs"); fs.mkdirSync(process.env.TMPDIR + "/a/b", { recursive: true }); fs.writeFileSync(process.env.TMPDIR + "/a/b/f", "x"); return { pid: process.pid, tmp: process.env.TMPDIR }; };');
    const first = await invokeJson<{ pid: number; tmp: string }>(runtime, fn);
    const workDir = path.dirname(first.tmp);
    expect(fs.existsSync(path.join(first.tmp, 'a', 'b', 'f'))).toBe(true);
    runtime.retire('us-east-1', 'leaver');
    await eventually(() => !fs.existsSync(first.tmp), 5000, 'the TMPDIR to be removed');
    const second = await invokeJson<{ tmp: string }>(runtime, fn);
    await runtime.stop();
    expect(fs.existsSync(second.tmp)).toBe(false);
    expect(fs.existsSync(workDir)).toBe(false);
  });

  test("what a user's directory holds goes as that user: root's files a link or mount put there stay", async () => {
    // A directory of the sandbox user holding a directory of root's: the user cannot delete what is
    // inside it, and neither may the engine on the user's behalf (a root rm -r would).
    const user = accountUser(A_ACCOUNT);
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-remove-'));
    fs.chmodSync(top, 0o711); // as the work directory: users pass through to their own
    const owned = path.join(top, 'tmp-user');
    try {
      fs.mkdirSync(path.join(owned, 'mine'), { recursive: true });
      fs.writeFileSync(path.join(owned, 'mine', 'file'), 'x');
      fs.mkdirSync(path.join(owned, 'roots'));
      fs.writeFileSync(path.join(owned, 'roots', 'precious'), 'x');
      for (const p of [owned, path.join(owned, 'mine'), path.join(owned, 'mine', 'file')]) fs.chownSync(p, user.uid, user.gid);
      await removeTree(owned);
      expect(fs.existsSync(path.join(owned, 'mine'))).toBe(false);
      expect(fs.readFileSync(path.join(owned, 'roots', 'precious'), 'utf8')).toBe('x');
    } finally {
      fs.rmSync(top, { recursive: true, force: true });
    }
  });
});

describe('when the engine cannot switch users (not root)', () => {
  // canSwitchUsers: false is the test seam for an engine that is not root.
  test('refused: Invoke fails with AccessDeniedException (403) saying why and how to allow it, before starting anything', () => {
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9', { invoke: 'refused', canSwitchUsers: false });
    const fn = functionConfig(A_ACCOUNT, 'refused', 'exports.handler = async () => 1;');
    let error: unknown;
    try {
      void runtime.invoke('us-east-1', fn.config, fn.zip, randomUUID(), '{}');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(LambdaError);
    expect(error).toMatchObject({ type: 'AccessDeniedException', status: 403 });
    expect((error as Error).message).toContain(`handlers here (${fn.config.FunctionArn})`);
    expect((error as Error).message).toContain(`would run as ${os.userInfo().username}`);
    expect((error as Error).message).toContain('set IASQL_LOCAL_CLOUD_INVOKE=trusted');
    expect(runtime.isolation).toBe('refused');
    expect(lambdaChildren()).toEqual([]);
  });

  test("trusted: handlers run as the engine's own user", async () => {
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9', { invoke: 'trusted', canSwitchUsers: false });
    try {
      const p = await invokeJson<Probe>(runtime, functionConfig(A_ACCOUNT, 'trusted', PROBER));
      expect(p.uid).toBe(process.getuid!());
      expect(runtime.isolation).toBe('trusted');
    } finally {
      await runtime.stop();
    }
  });

  test('the mode in force: sandboxed whenever the engine can switch users, whatever the setting; the start banner says which', () => {
    expect(invokeIsolation('refused', true)).toBe('sandboxed');
    expect(invokeIsolation('trusted', true)).toBe('sandboxed');
    expect(invokeIsolation('refused', false)).toBe('refused');
    expect(invokeIsolation(undefined, false)).toBe('trusted');
    // Root, but where unshare cannot build the box: per-account users only if the operator trusts the handlers.
    expect(invokeIsolation('trusted', true, false)).toBe('unboxed');
    expect(invokeIsolation('refused', true, false)).toBe('refused');
    expect(isolationBanner('unboxed', { unavailable: 'no namespaces here', limits: 'rlimit', tools: {} as never })).toBe(
      'Lambda handlers run as per-account users without the box (no namespaces here): they share the host\'s network (IASQL_LOCAL_CLOUD_INVOKE=trusted; set refused on a shared machine)',
    );
    expect(isolationBanner('sandboxed')).toMatch(/^Lambda handlers run sandboxed as per-account users, in a box: no network, own pid namespace, limits by /);
    expect(isolationBanner('trusted')).toBe(
      `Lambda handlers run as ${os.userInfo().username} (IASQL_LOCAL_CLOUD_INVOKE=trusted: fine for one developer; set refused on a shared machine)`,
    );
    expect(isolationBanner('refused')).toMatch(/^Lambda Invoke is refused \(IASQL_LOCAL_CLOUD_INVOKE=refused/);
  });

  (process.getuid?.() === 0 ? test : test.skip)('as root, refused is ignored: the handler runs, sandboxed', async () => {
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9', { invoke: 'refused' });
    try {
      expect(runtime.isolation).toBe('sandboxed');
      expect((await invokeJson<Probe>(runtime, functionConfig(A_ACCOUNT, 'root-refused', PROBER))).uid).toBe(accountUser(A_ACCOUNT).uid);
    } finally {
      await runtime.stop();
    }
  });

  // As root, the README's Node recipe (npm install --prefix ~/.iasql-node node@24) puts Node under
  // /root (0700). Before, every Invoke then failed: "sandbox users cannot run Node.js at /root/...".
  (process.getuid?.() === 0 ? test : test.skip)('a Node.js other users cannot reach is made runnable for them: handlers run a copy in the work directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-private-node-'));
    const node = path.join(dir, 'node');
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o755);
    expect(notRunnableByOthers(node)).toBe(`${dir} (mode 0700) cannot be entered by other users`);
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9', { node });
    try {
      const got = await invokeJson<{ execPath: string; uid: number; version: string }>(
        runtime,
        functionConfig(A_ACCOUNT, 'private-node', 'exports.handler = async () => ({ execPath: process.execPath, uid: process.getuid(), version: process.version });'),
      );
      expect(got.uid).toBe(accountUser(A_ACCOUNT).uid);
      expect(got.version).toBe(process.version);
      expect(got.execPath).toMatch(new RegExp(`^${os.tmpdir()}/iasql-lambda-${process.pid}-[^/]+/node/node$`));
      expect(notRunnableByOthers(got.execPath)).toBeUndefined();
    } finally {
      await runtime.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Node.js that other users cannot run is named before any handler starts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-private-node-'));
    try {
      const node = path.join(dir, 'node');
      fs.writeFileSync(node, '', { mode: 0o755 });
      expect(notRunnableByOthers(node)).toBe(`${dir} (mode 0700) cannot be entered by other users`);
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(node, 0o750);
      expect(notRunnableByOthers(node)).toBe(`${node} (mode 0750) cannot be read and run by other users`);
      expect(notRunnableByOthers(process.execPath)).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

afterAll(() => {
  // No instance outlives its runtime or local cloud.
  expect(lambdaChildren()).toEqual([]);
});
