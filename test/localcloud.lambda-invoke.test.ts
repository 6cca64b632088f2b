import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListRolesCommand } from '@aws-sdk/client-iam';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  GetFunctionCommand,
  InvokeCommand,
  type InvokeCommandInput,
  LambdaClient,
  type LambdaServiceException,
  ResourceNotFoundException,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { alive, eventually, iamClient, lambdaChildren, lambdaClient, lambdaRole, newAccount, zip } from './support/localcloud';

const logger = createLogger('silent');
// A variable of the engine's own environment: no function may see it.
process.env.IASQL_TEST_ENGINE_SECRET = 'engine-only';

let cloud: LocalCloud;
let account: LocalAccount;
let lambda: LambdaClient;
let role: string;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, logger });
  account = await newAccount(cloud);
  lambda = lambdaClient(cloud, account);
  role = await lambdaRole(cloud, account);
});

async function deploy(name: string, files: Record<string, string> | string, extra: Partial<CreateFunctionCommandInput> = {}, client = lambda): Promise<void> {
  const code = typeof files === 'string' ? { 'index.js': files } : files;
  await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: role, Handler: 'index.handler', Code: { ZipFile: zip(code) }, ...extra }));
}

interface Invoked {
  status?: number;
  functionError?: string;
  payload: unknown;
  log: string;
  requestId?: string;
}
async function invoke(name: string, event?: unknown, extra: Partial<InvokeCommandInput> = {}, client = lambda): Promise<Invoked> {
  const r = await client.send(
    new InvokeCommand({ FunctionName: name, LogType: 'Tail', Payload: event === undefined ? undefined : Buffer.from(JSON.stringify(event)), ...extra }),
  );
  const text = r.Payload ? Buffer.from(r.Payload).toString('utf8') : '';
  return {
    status: r.StatusCode,
    functionError: r.FunctionError,
    payload: text ? JSON.parse(text) : undefined,
    log: r.LogResult ? Buffer.from(r.LogResult, 'base64').toString('utf8') : '',
    requestId: r.$metadata.requestId,
  };
}

/** A handler that counts its invocations in module state and tells which process it runs in. */
// An instance's own id: as root each instance runs in its own pid namespace, where it is pid 1.
const COUNTER = 'let n = 0; const instance = require("crypto").randomUUID(); exports.handler = async () => ({ n: ++n, instance, stage: process.env.STAGE });';
/** The engine's children started since `before` (lambdaChildren()): one launcher per new instance. */
const startedSince = (before: number[]) => lambdaChildren().filter((pid) => !before.includes(pid));
/** As root, handlers run in the box, which has no network: they are not given an endpoint they cannot reach. */
const boxed = process.getuid?.() === 0;

describe('Invoke runs the handler in a child process', () => {
  test("the handler's result is the payload; the event, context and environment are Lambda's", async () => {
    await deploy(
      'echo',
      `exports.handler = async (event, context) => ({
         event,
         context: { functionName: context.functionName, functionVersion: context.functionVersion, invokedFunctionArn: context.invokedFunctionArn,
                    memoryLimitInMB: context.memoryLimitInMB, awsRequestId: context.awsRequestId, remaining: context.getRemainingTimeInMillis() },
         env: process.env, cwd: process.cwd(), pid: process.pid,
       });`,
      { MemorySize: 256 },
    );
    const r = await invoke('echo', { name: 'Ada', n: [1, 2] });
    expect(r).toMatchObject({ status: 200, functionError: undefined });
    const p = r.payload as { event: unknown; context: Record<string, unknown>; env: Record<string, string>; cwd: string; pid: number };
    expect(p.event).toEqual({ name: 'Ada', n: [1, 2] });
    expect(p.context).toMatchObject({
      functionName: 'echo',
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:us-east-1:${account.accountId}:function:echo`,
      memoryLimitInMB: '256',
      awsRequestId: r.requestId,
    });
    expect(p.context.remaining).toBeGreaterThan(2000);
    expect(p.context.remaining).toBeLessThanOrEqual(3000);
    expect(p.env).toMatchObject({
      AWS_LAMBDA_FUNCTION_NAME: 'echo',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/echo',
      _HANDLER: 'index.handler',
      LAMBDA_TASK_ROOT: p.cwd,
    });
    expect(p.pid).not.toBe(process.pid);
    expect(p.env.AWS_ENDPOINT_URL).toBe(boxed ? undefined : cloud.endpoint);
    // Nothing of the engine's environment.
    expect(p.env.IASQL_TEST_ENGINE_SECRET).toBeUndefined();
    expect(Object.keys(p.env).filter((k) => !/^(AWS_|LAMBDA_|_HANDLER$|PATH$|LANG$|TZ$|TMPDIR$|HOME$)/.test(k))).toEqual([]);
    expect(p.env.HOME).toBe(p.env.TMPDIR);
    // No payload: the event is {}.
    expect(((await invoke('echo')).payload as { event: unknown }).event).toEqual({});
  });

  test('handler forms: callback, ES module (.mjs and "type": "module"), nested paths, sync handlers answer null', async () => {
    await deploy('callback', 'exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { via: "callback" }), 5); };');
    await deploy('esm', { 'index.mjs': 'export const handler = async () => "esm";' });
    await deploy('typemod', { 'package.json': '{"type":"module"}', 'app.js': 'export async function handler() { return "type-module"; }' }, { Handler: 'app.handler' });
    await deploy('nested', { 'src/routes.js': 'exports.api = { get: async () => "nested" };' }, { Handler: 'src/routes.api.get' });
    await deploy('sync', 'exports.handler = () => 42;');
    expect((await invoke('callback')).payload).toEqual({ via: 'callback' });
    expect((await invoke('esm')).payload).toBe('esm');
    expect((await invoke('typemod')).payload).toBe('type-module');
    expect((await invoke('nested')).payload).toBe('nested');
    expect((await invoke('sync')).payload).toBeNull();
  });

  test('a thrown error: status 200, FunctionError Unhandled, the runtime\'s error payload; the instance stays warm', async () => {
    await deploy('thrower', 'let n = 0; exports.handler = async (e) => { n++; if (e.fail) throw new TypeError("no such widget"); return n; };');
    expect((await invoke('thrower', {})).payload).toBe(1);
    const r = await invoke('thrower', { fail: true });
    expect(r.status).toBe(200);
    expect(r.functionError).toBe('Unhandled');
    const p = r.payload as { errorType: string; errorMessage: string; trace: string[] };
    expect(p).toMatchObject({ errorType: 'TypeError', errorMessage: 'no such widget' });
    expect(p.trace[0]).toBe('TypeError: no such widget');
    expect(p.trace[1]).toMatch(/index\.js:1:/);
    expect(r.log).toMatch(/\tERROR\tInvoke Error \t\{"errorType":"TypeError","errorMessage":"no such widget"/);
    expect((await invoke('thrower', {})).payload).toBe(3);
  });

  test('handlers that cannot load: HandlerNotFound, ImportModuleError, UserCodeSyntaxError', async () => {
    await deploy('no-export', 'exports.other = async () => 1;');
    await deploy('no-file', 'exports.handler = async () => 1;', { Handler: 'main.handler' });
    await deploy('syntax', 'exports.handler = async () => { return ( };');
    expect((await invoke('no-export')).payload).toMatchObject({ errorType: 'Runtime.HandlerNotFound', errorMessage: 'index.handler is undefined or not exported' });
    expect((await invoke('no-file')).payload).toMatchObject({ errorType: 'Runtime.ImportModuleError', errorMessage: expect.stringMatching(/^Error: Cannot find module 'main'/) });
    const syntax = await invoke('syntax');
    expect(syntax.functionError).toBe('Unhandled');
    expect(syntax.payload).toMatchObject({ errorType: 'Runtime.UserCodeSyntaxError', errorMessage: expect.stringMatching(/^SyntaxError: /) });
  });

  test('a handler over its Timeout is stopped: Sandbox.Timedout, and the next invocation gets a fresh instance', async () => {
    await deploy('sleeper', 'let n = 0; exports.handler = async (e) => { n++; if (e.sleep) await new Promise((r) => setTimeout(r, 5000)); return n; };', { Timeout: 1 });
    expect((await invoke('sleeper', {})).payload).toBe(1);
    const r = await invoke('sleeper', { sleep: true });
    expect(r.functionError).toBe('Unhandled');
    expect(r.payload).toEqual({ errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${r.requestId} Error: Task timed out after 1.00 seconds` });
    expect(r.log).toContain(`${r.requestId} Task timed out after 1.00 seconds\n`);
    expect(r.log).toMatch(/REPORT RequestId: .*\tStatus: timeout\n$/);
    expect((await invoke('sleeper', {})).payload).toBe(1);
  });

  test('an uncaught exception or process.exit ends the instance, reported as the invocation\'s error', async () => {
    await deploy('crasher', 'exports.handler = async (e) => { if (e.exit) process.exit(3); setTimeout(() => { throw new Error("kaboom"); }, 1); await new Promise((r) => setTimeout(r, 200)); };');
    const uncaught = await invoke('crasher', {});
    expect(uncaught).toMatchObject({ functionError: 'Unhandled', payload: { errorType: 'Error', errorMessage: 'kaboom' } });
    const exited = await invoke('crasher', { exit: true });
    expect(exited.payload).toEqual({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${exited.requestId} Error: Runtime exited with error: exit status 3` });
  });

  test('LogType Tail: the START, END and REPORT lines and what the handler wrote, in the last 4 KB', async () => {
    await deploy('chatty', 'exports.handler = async () => { console.log("hello from", "the handler"); console.error("multi\\nline"); process.stdout.write("raw write\\n"); return "ok"; };');
    const r = await invoke('chatty');
    const id = r.requestId!;
    const lines = r.log.split('\n');
    expect(lines).toContain(`START RequestId: ${id} Version: $LATEST`);
    expect(lines.find((l) => l.endsWith('\tINFO\thello from the handler'))).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\t${id}\\tINFO\\t`));
    expect(lines.find((l) => l.includes('\tERROR\t'))).toMatch(/\tERROR\tmulti\rline$/);
    expect(lines).toContain('raw write');
    expect(lines).toContain(`END RequestId: ${id}`);
    expect(lines.find((l) => l.startsWith('REPORT'))).toMatch(new RegExp(`^REPORT RequestId: ${id}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t`));
    await deploy('verbose', 'exports.handler = async () => { for (let i = 0; i < 500; i++) console.log("line " + i); return 1; };');
    const long = await invoke('verbose');
    expect(Buffer.byteLength(long.log)).toBeLessThanOrEqual(4096);
    expect(long.log).toMatch(/line 499\nEND RequestId: .*\nREPORT /);
    const none = await lambda.send(new InvokeCommand({ FunctionName: 'chatty' }));
    expect(none.LogResult).toBeUndefined();
  });

  test('warm: invocations reuse the instance; a configuration or code change replaces it', async () => {
    await deploy('warm', COUNTER);
    const before = lambdaChildren();
    const first = (await invoke('warm')).payload as { n: number; instance: string };
    const [launcher] = startedSince(before);
    const second = (await invoke('warm')).payload as { n: number; instance: string };
    expect(second).toEqual({ n: 2, instance: first.instance });
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'warm', Environment: { Variables: { STAGE: 'two' } } }));
    const third = (await invoke('warm')).payload as { n: number; instance: string; stage: string };
    expect(third).toMatchObject({ n: 1, stage: 'two' });
    expect(third.instance).not.toBe(first.instance);
    await eventually(() => !alive(launcher), 5000, 'the old instance to exit');
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'warm', ZipFile: zip({ 'index.js': 'exports.handler = async () => "version two";' }) }));
    expect((await invoke('warm')).payload).toBe('version two');
  });

  test('environments are per function: A does not see B\'s variables nor the engine\'s', async () => {
    const source = 'exports.handler = async () => ({ A: process.env.ONLY_A ?? null, B: process.env.ONLY_B ?? null, engine: process.env.IASQL_TEST_ENGINE_SECRET ?? null });';
    await deploy('env-a', source, { Environment: { Variables: { ONLY_A: 'a' } } });
    await deploy('env-b', source, { Environment: { Variables: { ONLY_B: 'b' } } });
    expect((await invoke('env-a')).payload).toEqual({ A: 'a', B: null, engine: null });
    expect((await invoke('env-b')).payload).toEqual({ A: null, B: 'b', engine: null });
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'env-a', Environment: { Variables: { ONLY_A: 'changed' } } }));
    expect((await invoke('env-a')).payload).toEqual({ A: 'changed', B: null, engine: null });
  });

  test('concurrent invocations get their own instances', async () => {
    await deploy('parallel', 'const instance = require("crypto").randomUUID(); exports.handler = async () => { await new Promise((r) => setTimeout(r, 300)); return instance; };');
    const instances = await Promise.all([invoke('parallel'), invoke('parallel')]);
    expect(new Set(instances.map((r) => r.payload)).size).toBe(2);
  });

  test('InvocationType Event answers 202 and still runs; DryRun answers 204', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-test-event-'));
    const marker = path.join(dir, 'ran');
    // As root, the handler runs as its account's unprivileged user: let it write the marker.
    fs.chmodSync(dir, 0o777);
    try {
      await deploy('async', 'exports.handler = async (e) => { await new Promise((r) => setTimeout(r, 100)); require("fs").writeFileSync(e.file, "ran"); };');
      const event = await lambda.send(new InvokeCommand({ FunctionName: 'async', InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ file: marker })) }));
      expect(event.StatusCode).toBe(202);
      expect(fs.existsSync(marker)).toBe(false);
      await eventually(() => fs.existsSync(marker), 10_000, 'the event invocation to run');
      const dry = await lambda.send(new InvokeCommand({ FunctionName: 'async', InvocationType: 'DryRun' }));
      expect(dry.StatusCode).toBe(204);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Invoke refuses bad input: invalid JSON, a version qualifier, a runtime it cannot run', async () => {
    await deploy('strict-invoke', 'exports.handler = async () => 1;');
    const fail = (call: Promise<unknown>) => call.then(() => undefined, (e: LambdaServiceException) => e);
    const badJson = await fail(lambda.send(new InvokeCommand({ FunctionName: 'strict-invoke', Payload: Buffer.from('{not json') })));
    expect(badJson?.name).toBe('InvalidRequestContentException');
    const version = await fail(lambda.send(new InvokeCommand({ FunctionName: 'strict-invoke', Qualifier: '3' })));
    expect(version).toBeInstanceOf(ResourceNotFoundException);
    await deploy('python', 'def handler(e, c): return 1', { Runtime: 'python3.12' });
    expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'python' }))).Configuration?.Runtime).toBe('python3.12');
    const python = await fail(lambda.send(new InvokeCommand({ FunctionName: 'python' })));
    expect(python?.name).toBe('InvalidRuntimeException');
    expect(python?.$metadata.httpStatusCode).toBe(502);
    expect(python?.message).toBe(
      'The runtime python3.12 of function python cannot be invoked in the iasql local cloud, which runs Node.js handlers only: nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x',
    );
  });
});

describe('data and processes across stop and start', () => {
  test('with a data directory, functions and roles survive a restart; stop leaves no instance running', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-lambda-data-'));
    try {
      let disk = await startLocalCloud({ port: 0, logger, dataDir });
      const owner = await newAccount(disk);
      const roleArn = await lambdaRole(disk, owner, 'kept-role');
      let client = lambdaClient(disk, owner, 'eu-west-1');
      await client.send(
        new CreateFunctionCommand({ FunctionName: 'kept', Runtime: 'nodejs22.x', Role: roleArn, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': COUNTER }) }, Tags: { keep: 'yes' } }),
      );
      const before = lambdaChildren();
      await invoke('kept', undefined, {}, client);
      const [pid] = startedSince(before);
      expect(pid).toBeDefined();
      expect(fs.readdirSync(path.join(dataDir, 'lambda', owner.accountId, 'eu-west-1')).sort()).toEqual(['kept.json', 'kept.zip']);
      expect(fs.existsSync(path.join(dataDir, 'iam', owner.accountId, 'roles.json'))).toBe(true);
      await disk.stop();
      expect(alive(pid)).toBe(false);

      disk = await startLocalCloud({ port: 0, logger, dataDir });
      try {
        client = lambdaClient(disk, owner, 'eu-west-1');
        const got = await client.send(new GetFunctionCommand({ FunctionName: 'kept' }));
        expect(got.Configuration).toMatchObject({ FunctionName: 'kept', Runtime: 'nodejs22.x', Role: roleArn, State: 'Active' });
        expect(got.Tags).toEqual({ keep: 'yes' });
        expect((await invoke('kept', undefined, {}, client)).payload).toMatchObject({ n: 1 });
        expect((await iamClient(disk, owner).send(new ListRolesCommand({}))).Roles!.map((r) => r.RoleName)).toEqual(['kept-role']);
      } finally {
        await disk.stop();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('in memory: nothing is kept; stop() ends every warm instance; work files of a killed engine are swept', async () => {
    // What an engine killed with -9 leaves: its work directory, named with its (now unused) pid.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const abandoned = fs.mkdtempSync(path.join(os.tmpdir(), `iasql-lambda-${dead.stdout.toString()}-`));
    const memory = await startLocalCloud({ port: 0, logger });
    const owner = await newAccount(memory, 'memory_db');
    const client = lambdaClient(memory, owner);
    const roleArn = await lambdaRole(memory, owner);
    for (const name of ['one', 'two']) {
      await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: roleArn, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': COUNTER }) } }));
    }
    const before = lambdaChildren();
    await Promise.all(['one', 'two'].map((name) => invoke(name, undefined, {}, client)));
    const pids = startedSince(before);
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    expect(fs.existsSync(abandoned)).toBe(false);
    await memory.stop();
    expect(pids.some(alive)).toBe(false);
    const again = await startLocalCloud({ port: 0, logger });
    try {
      const err = await lambdaClient(again, await newAccount(again, 'memory_db'))
        .send(new GetFunctionCommand({ FunctionName: 'one' }))
        .then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ResourceNotFoundException);
    } finally {
      await again.stop();
    }
  });
});

afterAll(async () => {
  await cloud?.stop();
  // Whatever ran in this file: no instance outlives its local cloud.
  expect(lambdaChildren()).toEqual([]);
});
