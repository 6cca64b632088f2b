import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateFunctionCommand, type CreateFunctionCommandInput, DeleteFunctionCommand, InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { MEMORY_MARGIN_MB, TASKS_PER_ACCOUNT } from '../src/localcloud/lambda-box';
import { codeSha256 } from '../src/localcloud/lambda-code';
import { LambdaRuntime } from '../src/localcloud/lambda-runtime';
import { accountUser } from '../src/localcloud/lambda-sandbox';
import type { FunctionConfig } from '../src/localcloud/lambda-store';
import { createLogger } from '../src/logger';
import { eventually, lambdaChildren, lambdaClient, lambdaRole, newAccount, zip } from './support/localcloud';

// A hostile handler, from inside its instance, tries what the box must stop: reaching anything
// over the network, forking without end, using memory outside its heap, leaving processes behind,
// and sending the engine what it does not expect. Each refusal has a control showing the same
// attempt works where it should (from the engine, or within the limit). The box needs root (CI
// and the test machine run as root) and a host where unshare works, which this one is.

const logger = createLogger('silent');
const describeAsRoot = process.getuid?.() === 0 ? describe : describe.skip;

/** Real uids of every process on the machine with this uid (from /proc/<pid>/status, zombies left out). */
function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s*Z/m.test(status)) continue;
      if (Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]) === uid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Connects to host:port from this process: 'connected', or the error code. */
function connectFromEngine(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const CONNECTOR = `
const net = require('net');
const fs = require('fs');
const connect = ({ host, port }) => new Promise((resolve) => {
  const socket = net.connect({ host, port, timeout: 2000 });
  socket.once('connect', () => { socket.destroy(); resolve('connected'); });
  socket.once('timeout', () => { socket.destroy(); resolve('ETIMEDOUT'); });
  socket.once('error', (err) => resolve(err.code || err.message));
});
const listeners = (file) => { try { return fs.readFileSync(file, 'utf8').split('\\n').slice(1).filter((l) => l.trim().split(/\\s+/)[3] === '0A'); } catch (err) { return err.code; } };
exports.handler = async (e) => ({
  connects: await Promise.all(e.targets.map(async (t) => ({ ...t, outcome: await connect(t) }))),
  listeners: { tcp: listeners('/proc/net/tcp'), tcp6: listeners('/proc/net/tcp6') },
  endpoint: process.env.AWS_ENDPOINT_URL ?? null,
});`;

// Forks until the kernel refuses, at most 3000 times; the sleepers stay (the instance's end takes them).
const FORKER = `
const { spawn } = require('child_process');
const once = () => new Promise((resolve) => {
  const child = spawn('/bin/sleep', ['120'], { stdio: 'ignore' });
  child.once('spawn', () => resolve(undefined));
  child.once('error', (err) => resolve(err.code));
});
exports.handler = async () => {
  for (let n = 0; n < 3000; n++) {
    const code = await once();
    if (code) return { started: n, code };
  }
  return { started: 3000, code: null };
};`;

// Memory outside V8's heap, 16 MB at a time, at most 1 GB.
const HOG = `
exports.handler = async () => {
  const kept = [];
  for (let i = 0; i < 64; i++) kept.push(Buffer.alloc(16 * 1024 * 1024, 1));
  return { allocated: kept.length * 16 };
};`;

// Leaves a detached sleeper and a double-forked, setsid'd one, then answers.
const LEAVER = `
const { spawn } = require('child_process');
exports.handler = async () => {
  spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }).unref();
  spawn('/bin/sh', ['-c', 'setsid /bin/sh -c "sleep 1001 &" &'], { detached: true, stdio: 'ignore' }).unref();
  await new Promise((r) => setTimeout(r, 300));
  return { uid: process.getuid() };
};`;

// Writes one raw line (or raw bytes) to fd 3, the channel to the engine, then waits for the end.
const LIAR = `
const fs = require('fs');
const write = (buffer) => {
  for (let at = 0; at < buffer.length; ) {
    try { at += fs.writeSync(3, buffer, at); }
    catch (err) { if (err.code !== 'EAGAIN') throw err; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); }
  }
};
let invocations = 0;
exports.handler = async (e, context) => {
  invocations++;
  const id = context.awsRequestId;
  const lines = {
    null: 'null',
    number: '42',
    string: '"result"',
    array: '[1, 2]',
    unknownType: JSON.stringify({ type: 'shell', requestId: id }),
    wrongRequestId: JSON.stringify({ type: 'result', requestId: 'not-' + id, payload: '1', rss: 1 }),
    noRequestId: JSON.stringify({ type: 'result', payload: '1', rss: 1 }),
    payloadObject: JSON.stringify({ type: 'result', requestId: id, payload: { length: 3e8 }, rss: 1 }),
    rssNotFinite: '{"type": "result", "requestId": ' + JSON.stringify(id) + ', "payload": "1", "rss": 1e999}',
    logNotString: JSON.stringify({ type: 'log', text: { length: 3e8 } }),
    notJson: 'this is not json',
    nodeHandle: JSON.stringify({ cmd: 'NODE_HANDLE', type: 'net.Socket', msg: {} }),
    nodeHandleAck: JSON.stringify({ cmd: 'NODE_HANDLE_ACK' }),
  };
  if (e.kind === 'count') return { invocations };
  if (e.kind === 'bigPayload') return 'x'.repeat(6291456 + 1);
  if (e.kind === 'endless') {
    // A line that never ends: 64 MB without a newline.
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    write(Buffer.from('{"type": "log", "text": "'));
    for (let i = 0; i < 64; i++) write(chunk);
  } else {
    write(Buffer.from(lines[e.kind] + '\\n'));
  }
  await new Promise((r) => setTimeout(r, 3000));
  return { invocations, after: e.kind };
};`;

const payloadOf = (r: InvokeCommandOutput) => JSON.parse(Buffer.from(r.Payload!).toString('utf8'));

describeAsRoot('a handler runs in a box (through the SDK, as root)', () => {
  let home: string;
  let cloud: LocalCloud;
  let account: LocalAccount;
  let lambda: LambdaClient;
  let role: string;
  const listeners: net.Server[] = [];

  const deploy = (client: LambdaClient, roleArn: string, name: string, source: string, extra: Partial<CreateFunctionCommandInput> = {}) =>
    client.send(
      new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: roleArn, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': source }) }, Timeout: 60, ...extra }),
    );
  const invoke = (client: LambdaClient, name: string, event: unknown = {}) => client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-box-home-'));
    cloud = await startLocalCloud({ port: 0, logger, dataDir: path.join(home, 'localcloud') });
    account = await newAccount(cloud);
    lambda = lambdaClient(cloud, account);
    role = await lambdaRole(cloud, account);
  });

  afterAll(async () => {
    for (const server of listeners) server.close();
    await cloud?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** A listener of the test's own on `host`, port chosen by the kernel. */
  async function listen(host: string): Promise<number> {
    const server = net.createServer((socket) => socket.destroy());
    listeners.push(server);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return (server.address() as net.AddressInfo).port;
  }

  test('no TCP connect from a handler reaches anything: the local cloud, Postgres, loopback and the host addresses; the engine reaches them all', async () => {
    const pgPort = Number(new URL(process.env.IASQL_TEST_DATABASE_URL!).port || 5432);
    const cloudPort = Number(new URL(cloud.endpoint).port);
    const anyPort = await listen('0.0.0.0');
    const targets = [
      { host: '127.0.0.1', port: cloudPort },
      { host: '127.0.0.1', port: pgPort },
      { host: '127.0.0.1', port: await listen('127.0.0.1') },
      { host: '127.0.0.1', port: anyPort },
    ];
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const a of addresses ?? []) if (!a.internal && a.family === 'IPv4') targets.push({ host: a.address, port: anyPort });
    }
    expect(targets.filter((t) => t.host !== '127.0.0.1').length).toBeGreaterThan(0); // this machine has a non-loopback address
    // Control: from the engine, every one of them accepts.
    for (const t of targets) expect([t, await connectFromEngine(t.host, t.port)]).toEqual([t, 'connected']);

    await deploy(lambda, role, 'connector', CONNECTOR);
    const r = await invoke(lambda, 'connector', { targets });
    expect(r.FunctionError).toBeUndefined();
    const { connects, listeners: seen, endpoint } = payloadOf(r);
    for (const c of connects) expect(c.outcome).not.toBe('connected');
    expect(connects).toHaveLength(targets.length);
    // It sees no listener of the host, and is not told of an endpoint it could not reach.
    expect(seen).toEqual({ tcp: [], tcp6: [] });
    expect(endpoint).toBeNull();
  });

  test(`forks beyond the account's limit fail with EAGAIN; the engine and another account's handlers still run`, async () => {
    const bomber = await newAccount(cloud);
    const bomberLambda = lambdaClient(cloud, bomber);
    await deploy(bomberLambda, await lambdaRole(cloud, bomber), 'forker', FORKER, { MemorySize: 2048 });
    const r = await invoke(bomberLambda, 'forker');
    expect(r.FunctionError).toBeUndefined();
    const bomb = payloadOf(r);
    expect(bomb.code).toBe('EAGAIN');
    expect(bomb.started).toBeGreaterThan(100); // control: forking works, up to the limit
    expect(bomb.started).toBeLessThan(TASKS_PER_ACCOUNT);
    // While that account is full: the engine forks, and another account's handler runs.
    expect(spawnSync('/bin/true').status).toBe(0);
    await deploy(lambda, role, 'neighbour', 'exports.handler = async () => "fine";');
    expect(payloadOf(await invoke(lambda, 'neighbour'))).toBe('fine');
    // Its sleepers go with the function.
    const uid = accountUser(bomber.accountId).uid;
    expect(processesOf(uid).length).toBeGreaterThan(100);
    await bomberLambda.send(new DeleteFunctionCommand({ FunctionName: 'forker' }));
    await eventually(() => processesOf(uid).length === 0, 10_000, 'the forked sleepers to be gone');
    await cloud.accounts.remove(bomber.label);
  });

  test(`memory far outside the heap: the instance is killed and Invoke answers Runtime.OutOfMemory, as Lambda does`, async () => {
    await deploy(lambda, role, 'hog', HOG, { MemorySize: 128 });
    const r = await invoke(lambda, 'hog');
    expect(r.FunctionError).toBe('Unhandled');
    expect(payloadOf(r)).toEqual({ errorType: 'Runtime.OutOfMemory', errorMessage: `RequestId: ${r.$metadata.requestId} Error: Runtime exited with error: signal: killed` });
    // Control: within its memory, the same account's next function runs.
    await deploy(lambda, role, 'modest', 'exports.handler = async () => Buffer.alloc(32 * 1024 * 1024, 1).length;', { MemorySize: 128 });
    expect(payloadOf(await invoke(lambda, 'modest'))).toBe(32 * 1024 * 1024);
  });

  test('the limits hold from the handler module\'s first line: its cgroups, their limits, its rlimits; the cgroups go when the instance ends', async () => {
    const source = `
      const fs = require('fs');
      const atLoad = { cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'), limits: fs.readFileSync('/proc/self/limits', 'utf8'), pid: process.pid };
      exports.handler = async () => atLoad;`;
    await deploy(lambda, role, 'limited', source, { MemorySize: 256 });
    const seen = payloadOf(await invoke(lambda, 'limited'));
    expect(seen.pid).toBe(1); // the init of its own pid namespace
    const memory = /^\d+:memory:(.+)$/m.exec(seen.cgroup)?.[1];
    const pids = /^\d+:pids:(.+)$/m.exec(seen.cgroup)?.[1];
    expect(memory).toMatch(new RegExp(`^/iasql-lambda-${process.pid}-\\d+/${account.accountId}/i\\d+$`));
    expect(pids).toMatch(new RegExp(`^/iasql-lambda-${process.pid}-\\d+/${account.accountId}$`));
    expect(fs.readFileSync(`/sys/fs/cgroup/memory${memory}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String((256 + MEMORY_MARGIN_MB) * 1024 * 1024));
    expect(fs.readFileSync(`/sys/fs/cgroup/pids${pids}/pids.max`, 'utf8').trim()).toBe(String(TASKS_PER_ACCOUNT));
    expect(seen.limits).toMatch(new RegExp(`^Max processes\\s+${TASKS_PER_ACCOUNT}\\s+${TASKS_PER_ACCOUNT}\\s`, 'm'));
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'limited' }));
    await eventually(() => !fs.existsSync(`/sys/fs/cgroup/memory${memory}`), 10_000, "the instance's memory cgroup to be removed");
  });

  test('no process of an account survives: detached and double-forked ones go when the function is deleted, and when the account is removed', async () => {
    const owner = await newAccount(cloud);
    const client = lambdaClient(cloud, owner);
    const ownerRole = await lambdaRole(cloud, owner);
    const uid = accountUser(owner.accountId).uid;
    await deploy(client, ownerRole, 'leaver', LEAVER);
    expect(payloadOf(await invoke(client, 'leaver')).uid).toBe(uid);
    // Control: they are there, the instance and its two sleepers (and the shells on the way).
    await eventually(() => processesOf(uid).length >= 3, 5000, 'the sleepers to start');
    await client.send(new DeleteFunctionCommand({ FunctionName: 'leaver' }));
    await eventually(() => processesOf(uid).length === 0, 10_000, `every process of uid ${uid} to be gone after DeleteFunction`);

    await deploy(client, ownerRole, 'leaver', LEAVER);
    await invoke(client, 'leaver');
    await eventually(() => processesOf(uid).length >= 3, 5000, 'the sleepers to start again');
    await cloud.accounts.remove(owner.label);
    expect(processesOf(uid)).toEqual([]);
  });

  test('no process outlives its instance: after a timeout, and after the runtime exits on its own', async () => {
    const owner = await newAccount(cloud);
    const client = lambdaClient(cloud, owner);
    const ownerRole = await lambdaRole(cloud, owner);
    const uid = accountUser(owner.accountId).uid;
    const leaveThen = (end: string) => `
      const { spawn } = require('child_process');
      exports.handler = async () => {
        spawn('/bin/sh', ['-c', 'setsid /bin/sh -c "sleep 1004 &" &'], { detached: true, stdio: 'ignore' }).unref();
        await new Promise((r) => setTimeout(r, 300));
        ${end}
      };`;
    await deploy(client, ownerRole, 'sleepy', leaveThen('await new Promise((r) => setTimeout(r, 60_000));'), { Timeout: 1 });
    const timedOut = await invoke(client, 'sleepy');
    expect(payloadOf(timedOut).errorType).toBe('Sandbox.Timedout');
    await eventually(() => processesOf(uid).length === 0, 10_000, 'every process of the timed-out instance to be gone');
    await deploy(client, ownerRole, 'quitter', leaveThen('process.exit(3);'));
    const exited = await invoke(client, 'quitter');
    expect(payloadOf(exited)).toEqual({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${exited.$metadata.requestId} Error: Runtime exited with error: exit status 3` });
    await eventually(() => processesOf(uid).length === 0, 10_000, 'every process of the exited instance to be gone');
    await cloud.accounts.remove(owner.label);
  });

  describe('what the child sends the engine is checked: anything unexpected ends that instance with an error, and the engine goes on', () => {
    beforeAll(async () => {
      await deploy(lambda, role, 'liar', LIAR);
      await deploy(lambda, role, 'honest', 'exports.handler = async (e) => ({ echo: e });');
    });

    const kinds = ['null', 'number', 'string', 'array', 'unknownType', 'wrongRequestId', 'noRequestId', 'payloadObject', 'rssNotFinite', 'logNotString', 'notJson', 'nodeHandle', 'nodeHandleAck', 'endless'];
    test.each(kinds)('%s', async (kind) => {
      const r = await invoke(lambda, 'liar', { kind });
      expect(r.FunctionError).toBe('Unhandled');
      const error = payloadOf(r);
      expect(error.errorType).toBe('Runtime.ExitError');
      expect(error.errorMessage).toMatch(new RegExp(`^RequestId: ${r.$metadata.requestId} Error: the runtime sent the local cloud .+: the instance was ended$`));
      // The instance is gone: the next call starts a new one.
      expect(payloadOf(await invoke(lambda, 'liar', { kind: 'count' }))).toEqual({ invocations: 1 });
      expect(payloadOf(await invoke(lambda, 'honest', { kind }))).toEqual({ echo: { kind } });
    });

    test('a result over 6 MB is Function.ResponseSizeTooLarge, and the instance that sent it is ended', async () => {
      const warm = payloadOf(await invoke(lambda, 'liar', { kind: 'count' })).invocations;
      expect(payloadOf(await invoke(lambda, 'liar', { kind: 'count' }))).toEqual({ invocations: warm + 1 }); // control: the same instance
      const r = await invoke(lambda, 'liar', { kind: 'bigPayload' });
      expect(r.FunctionError).toBe('Unhandled');
      expect(payloadOf(r)).toEqual({ errorType: 'Function.ResponseSizeTooLarge', errorMessage: 'Response payload size exceeded maximum allowed payload size (6291456 bytes).' });
      expect(payloadOf(await invoke(lambda, 'liar', { kind: 'count' }))).toEqual({ invocations: 1 });
    });
  });
});

describeAsRoot('where the engine may write no cgroup (rlimits only; the runtime\'s test seam)', () => {
  test('the box still has no network; the process count and data size are rlimits; memory past them fails in the function', async () => {
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9', { limits: 'rlimit' });
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(runtime.box?.limits).toBe('rlimit');
      expect(await connectFromEngine('127.0.0.1', port)).toBe('connected'); // control
      const probe = runtimeFunction(
        'probe',
        `exports.handler = async () => ({
          limits: require('fs').readFileSync('/proc/self/limits', 'utf8'),
          cgroup: require('fs').readFileSync('/proc/self/cgroup', 'utf8'),
          connect: await new Promise((resolve) => require('net').connect(${port}, '127.0.0.1').once('connect', () => resolve('connected')).once('error', (e) => resolve(e.code))),
        });`,
      );
      const seen = JSON.parse((await runtime.invoke('us-east-1', probe.config, probe.zip, randomUUID(), '{}')).payload);
      expect(seen.connect).not.toBe('connected');
      expect(seen.limits).toMatch(new RegExp(`^Max processes\\s+${TASKS_PER_ACCOUNT}\\s+${TASKS_PER_ACCOUNT}\\s`, 'm'));
      expect(seen.limits).toMatch(/^Max data size\s+\d+\s+\d+\s+bytes/m);
      expect(seen.cgroup).not.toContain('iasql-lambda-');
      const hog = runtimeFunction('hog', HOG);
      const outcome = await runtime.invoke('us-east-1', hog.config, hog.zip, randomUUID(), '{}');
      expect(outcome.functionError).toBe('Unhandled');
      expect(JSON.parse(outcome.payload)).toMatchObject({ errorType: 'RangeError', errorMessage: 'Failed to allocate memory' });
    } finally {
      server.close();
      await runtime.stop();
    }
  });
});

/** A function of account 555555555555 as the store keeps it, for the runtime directly. */
function runtimeFunction(name: string, source: string): { config: FunctionConfig; zip: () => Buffer } {
  const code = Buffer.from(zip({ 'index.js': source }));
  const config = {
    FunctionName: name,
    FunctionArn: `arn:aws:lambda:us-east-1:555555555555:function:${name}`,
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Timeout: 30,
    MemorySize: 128,
    CodeSha256: codeSha256(code),
    RevisionId: randomUUID(),
    Environment: { Variables: {} },
    LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${name}` },
  } as unknown as FunctionConfig;
  return { config, zip: () => code };
}

describeAsRoot('at start, what a killed engine left is removed', () => {
  test("a sandbox user's orphaned process and a cgroup named for a dead engine go when a runtime starts", async () => {
    const uid = accountUser('444444444444').uid;
    // An orphan, as a killed engine's handler leaves one: its parent is gone, init adopted it.
    spawnSync('/usr/bin/setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', '/bin/sh', '-c', 'sleep 1002 >/dev/null 2>&1 &']);
    await eventually(() => processesOf(uid).length === 1, 5000, 'the orphan to start');
    // A cgroup of an engine that is gone (the pid of a process that has exited), with a process in it.
    const dead = spawnSync('/bin/true').pid!;
    const left = `/sys/fs/cgroup/pids/iasql-lambda-${dead}-1/444444444444`;
    fs.mkdirSync(left, { recursive: true });
    const inside = spawn('/bin/sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec sleep 1003', 'sh', left], { stdio: 'ignore' });
    await eventually(() => fs.readFileSync(`${left}/cgroup.procs`, 'utf8').trim() !== '', 5000, 'the process to join the cgroup');
    const runtime = new LambdaRuntime(logger, () => 'http://127.0.0.1:9');
    try {
      await eventually(() => processesOf(uid).length === 0, 5000, 'the orphan to be killed');
      await eventually(() => !fs.existsSync(`/sys/fs/cgroup/pids/iasql-lambda-${dead}-1`), 5000, "the dead engine's cgroup to be removed");
      expect(inside.exitCode !== null || inside.signalCode !== null || (await new Promise((r) => inside.once('exit', r)), true)).toBe(true);
    } finally {
      await runtime.stop();
      inside.kill('SIGKILL');
    }
  });
});

afterAll(() => {
  // No instance outlives its local cloud, and no cgroup of this process is left.
  expect(lambdaChildren()).toEqual([]);
  for (const c of ['pids', 'memory', 'cpu']) {
    expect(fs.readdirSync(`/sys/fs/cgroup/${c}`).filter((n) => n.startsWith(`iasql-lambda-${process.pid}-`))).toEqual([]);
  }
});
