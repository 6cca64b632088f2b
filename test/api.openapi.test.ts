import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { z } from 'zod';
import { apiRoutes, createApi, type ApiDeps } from '../src/api/server';
import type { AnyRoute } from '../src/api/route';
import { ENGINE_VERSION } from '../src/version';
import { TestEngine, stopTestEngine, uniq } from './support/engine';
import { startModuleEngine } from './support/modules';

type Json = any;

let engine: TestEngine;
let doc: Json;
beforeAll(async () => {
  engine = await startModuleEngine();
  doc = (await engine.api('GET', '/openapi.json', undefined, null)).body;
});
afterAll(() => stopTestEngine(engine));

const operations = (d: Json) =>
  Object.entries(d.paths as Record<string, Record<string, Json>>).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method, path, op })),
  );

/** Where a JSON pointer like #/components/schemas/Database leads in the document, or undefined. */
const resolve = (d: Json, ref: string) =>
  ref
    .replace(/^#\//, '')
    .split('/')
    .reduce((at: Json, key) => (at === undefined ? undefined : at[key.replace(/~1/g, '/').replace(/~0/g, '~')]), d);

function refsIn(value: Json, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, found));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref') found.push(v as string);
      else refsIn(v, found);
    }
  return found;
}

/**
 * Runs a node script; its exit code and stdout. Asynchronous: the engine under test serves from
 * this process, and a blocked event loop would drop its idle keep-alive connections.
 */
function runNode(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The problems Redocly's linter reports on a document (test/support/openapi-lint.mjs, a child process: the package is ESM only). */
async function lint(d: Json): Promise<Json[]> {
  const { code, stdout, stderr } = await runNode([join(__dirname, 'support/openapi-lint.mjs')], JSON.stringify(d));
  if (code !== 0 && code !== 1) throw new Error(`the linter failed: ${stderr}`);
  return JSON.parse(stdout);
}

describe('GET /openapi.json, generated from the route table', () => {
  test('every route the express app answers is in the document with its method, and nothing else is', () => {
    const app = createApi({ token: 't', logger: { info: () => undefined, error: () => undefined } } as unknown as ApiDeps);
    const stack = (app as unknown as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } }).router.stack;
    const answered = stack
      .filter((layer) => layer.route)
      .flatMap((layer) => Object.keys(layer.route!.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`));
    const documented = operations(doc).map(({ method, path }) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
    expect(answered.sort()).toEqual(documented.sort());
    expect(answered.length).toBe(apiRoutes.length);
  });

  test('the app answers every documented operation with one of its documented statuses, never the unknown-route 404', async () => {
    const placeholders: Record<string, string> = { name: `nope_${uniq()}`, id: '00000000-0000-4000-8000-000000000000' };
    for (const { method, path, op } of operations(doc)) {
      const url = path.replace(/\{(\w+)\}/g, (_m, p: string) => placeholders[p]);
      // An empty body: a route with one answers 400 without doing anything.
      const res = await engine.api(method.toUpperCase(), url, op.requestBody ? {} : undefined);
      expect({ route: `${method} ${path}`, unknownRoute: res.status === 404 && /^no route/.test(res.body?.error?.message) }).toEqual({
        route: `${method} ${path}`,
        unknownRoute: false,
      });
      expect(Object.keys(op.responses)).toContain(String(res.status));
    }
  });

  test('request bodies in the document are the ones validation applies', async () => {
    const create = doc.paths['/v1/databases'].post.requestBody.content['application/json'].schema;
    expect(create).toMatchObject({ type: 'object', required: ['name'], additionalProperties: false });
    expect(resolve(doc, create.properties.name.$ref)).toMatchObject({ type: 'string', pattern: '^[a-z][a-z0-9_]*$', maxLength: 63 });
    const noName = await engine.api('POST', '/v1/databases', {});
    expect(noName.status).toBe(400);
    expect(noName.body.error.message).toMatch(/^name: name is required/);
    expect((await engine.api('POST', '/v1/databases', { name: `x_${uniq()}`, owner: 'me' })).body.error.message).toBe("unknown field(s) 'owner'");

    const start = doc.paths['/v1/rollouts'].post.requestBody.content['application/json'].schema;
    expect(start).toMatchObject({ required: ['strategy'], additionalProperties: false });
    expect(start.properties.strategy.enum).toEqual(['all-at-once', 'one-at-a-time']);
    expect((await engine.api('POST', '/v1/rollouts', { strategy: 'big-bang' })).status).toBe(400);

    const change = doc.paths['/v1/databases/{name}/modules'].post.requestBody.content['application/json'].schema;
    expect(change.properties.install).toMatchObject({ type: 'array', minItems: 1, items: { type: 'string' } });
    const empty = await engine.api('POST', `/v1/databases/nope_${uniq()}/modules`, { install: [] });
    expect(empty).toEqual({ status: 400, body: { error: { code: 'bad_request', message: 'install: list at least one module' } } });
  });

  test('a valid-looking OpenAPI 3 document whose every $ref resolves', () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: ENGINE_VERSION });
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect({ ref, resolves: ref.startsWith('#/') && resolve(doc, ref) !== undefined }).toEqual({ ref, resolves: true });
    expect(JSON.stringify(doc)).not.toContain('"$id"');
    for (const { path, op } of operations(doc)) {
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
      for (const res of Object.values<Json>(op.responses)) expect(typeof res.description).toBe('string');
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).map((p: Json) => p.name)).toEqual(inPath);
      expect(op.security).toEqual(path.startsWith('/v1/') ? undefined : []);
    }
  });

  test('every operation has a camelCase operationId, unique, taken from the route table', () => {
    const ids = operations(doc).map(({ op }) => op.operationId);
    expect(ids.every((id) => /^[a-z][A-Za-z0-9]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(apiRoutes.length);
    expect(doc.paths['/v1/databases/{name}'].delete.operationId).toBe('dropDatabase');
    expect(doc.info.license).toEqual({ name: 'AGPL-3.0-only', url: 'https://www.gnu.org/licenses/agpl-3.0.html' });
  });

  test("Redocly's linter (recommended rules, redocly.yaml) finds no problem in the served document", async () => {
    expect(await lint(doc)).toEqual([]);
    // It does look: a document without an operationId is reported.
    const bare = JSON.parse(JSON.stringify(doc));
    delete bare.paths['/v1/version'].get.operationId;
    expect(await lint(bare)).toEqual([expect.objectContaining({ ruleId: 'operation-operationId', pointer: '#/paths/~1v1~1version/get/operationId' })]);
  }, 120_000);
});

describe('answers match the response schemas of the route table', () => {
  const routeOf = (method: string, url: string): AnyRoute => {
    const found = apiRoutes.find(
      (r) => r.method === method.toLowerCase() && new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(url),
    );
    if (!found) throw new Error(`no route for ${method} ${url}`);
    return found;
  };
  /** Calls the API and checks the status is declared and the body is exactly what that status's schema describes. */
  async function call(method: string, url: string, body?: unknown) {
    const res = await engine.api(method, url, body);
    const spec = routeOf(method, url).responses[res.status] as { body?: z.ZodType } | undefined;
    expect({ call: `${method} ${url}`, status: res.status, declared: spec !== undefined }).toEqual({ call: `${method} ${url}`, status: res.status, declared: true });
    if (spec!.body) expect(spec!.body.parse(res.body)).toEqual(res.body); // parse drops unknown keys: equal means none
    else expect(res.body).toBeUndefined();
    return res;
  }

  test('a walk through every route', async () => {
    const name = `oa_${uniq()}`;
    await call('GET', '/health');
    await call('GET', '/openapi.json');
    await call('GET', '/v1/version');
    expect((await call('POST', '/v1/databases', { name })).status).toBe(201);
    expect((await call('POST', '/v1/databases', { name })).status).toBe(409);
    await call('GET', '/v1/databases');
    await call('GET', `/v1/databases/${name}`);
    expect((await call('GET', '/v1/databases/Not-A-Name')).status).toBe(400);
    const modules = await call('GET', '/v1/modules');
    expect(modules.body.modules.some((m: Json) => m.versions.some((v: Json) => v.rpc.length > 0))).toBe(true);
    expect((await call('POST', `/v1/databases/${name}/modules`, { install: ['fixture_notes@0.2.0'] })).body.installed).toHaveLength(1);
    await call('GET', `/v1/databases/${name}/modules`);
    expect((await call('POST', `/v1/databases/${name}/upgrade`)).body.upgraded).toHaveLength(1);
    expect((await call('POST', `/v1/databases/${name}/modules`, { uninstall: ['fixture_notes'] })).body.uninstalled).toHaveLength(1);
    expect((await call('POST', `/v1/databases/${name}/modules`, { uninstall: ['fixture_notes'] })).status).toBe(400);

    const started = await call('POST', '/v1/rollouts', { strategy: 'one-at-a-time' });
    expect(started.status).toBe(202);
    let rollout = started.body;
    for (let i = 0; i < 300 && rollout.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      rollout = (await call('GET', `/v1/rollouts/${started.body.id}`)).body;
    }
    expect(rollout.status).toBe('succeeded');
    expect(rollout.databases[0].startedAt).toEqual(expect.any(String));
    await call('GET', '/v1/rollouts');
    expect((await call('GET', '/v1/rollouts/not-a-uuid')).status).toBe(400);

    expect((await call('DELETE', `/v1/databases/${name}`)).status).toBe(204);
    expect((await call('DELETE', `/v1/databases/${name}`)).status).toBe(404);
  });
});

describe('GET /v1/modules: the rpc interface as a REST client sees it', () => {
  const rpcOf = async (module: string, fn: string) => {
    const { body } = await engine.api('GET', '/v1/modules');
    const m = body.modules.find((x: Json) => x.name === module);
    return m.versions.find((v: Json) => v.version === m.latest).rpc.find((r: Json) => r.name === fn);
  };

  test('an argument with a SQL default is optional, with that default; every argument has its description', async () => {
    const invoke = await rpcOf('aws_lambda', 'invoke_lambda_function');
    expect(invoke.args).toEqual([
      { name: 'lambda_function_name', type: 'text', description: 'the function, as in lambda_function.name', optional: false, default: null, defaultSql: null, variadic: false },
      { name: 'function_payload', type: 'json', description: 'the event the handler gets', optional: true, default: '{}', defaultSql: null, variadic: false },
      {
        name: 'region',
        type: 'text',
        description: "the function's region (default: default_aws_region(); NULL means the same)",
        optional: true,
        default: null,
        defaultSql: 'default_aws_region()',
        variadic: false,
      },
    ]);
    for (const fn of ['dynamo_put', 'dynamo_get', 'dynamo_delete', 'dynamo_query', 'dynamo_scan']) {
      const region = (await rpcOf('aws_dynamo', fn)).args.find((a: Json) => a.name === 'region');
      expect({ fn, ...region }).toMatchObject({ fn, optional: true, defaultSql: 'default_aws_region()', description: expect.stringContaining('region') });
    }
    expect((await rpcOf('fixture_rpc', 'rpc_echo')).args).toEqual([
      { name: 'value', type: 'text', description: 'the text to repeat', optional: false, default: null, defaultSql: null, variadic: false },
      { name: 'times', type: 'integer', description: 'how many times', optional: true, default: 1, defaultSql: null, variadic: false },
    ]);
    expect((await rpcOf('iasql_functions', 'iasql_install')).args).toEqual([
      { name: 'modules', type: 'text[]', description: 'module names, or name@x.y.z', optional: false, default: null, defaultSql: null, variadic: true },
    ]);
  });
});

describe('a client generated from the document (openapi-typescript)', () => {
  /** Type-checks `calls` against the types openapi-typescript generates from the served document; returns the compiler's errors. */
  async function typeCheck(calls: string): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'iasql-openapi-'));
    try {
      // Its CLI in a child process: the package is ESM only, which jest's module loader does not run.
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
      const cli = join(dirname(require.resolve('openapi-typescript/package.json')), 'bin/cli.js');
      const generated = await runNode([cli, join(dir, 'openapi.json'), '-o', join(dir, 'api.ts')]);
      if (generated.code !== 0) throw new Error(`openapi-typescript failed: ${generated.stderr}`);
      writeFileSync(join(dir, 'calls.ts'), calls);
      const program = ts.createProgram([join(dir, 'calls.ts')], { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022 });
      return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('real answers and bodies of the routes fit the generated types, by operationId; wrong ones do not', async () => {
    const name = `gen_${uniq()}`;
    const created = await engine.api('POST', '/v1/databases', { name });
    expect(created.status).toBe(201);
    const installed = await engine.api('POST', `/v1/databases/${name}/modules`, { install: ['fixture_notes@0.2.0'] });
    const answers = {
      createDatabase: created.body,
      getDatabase: (await engine.api('GET', `/v1/databases/${name}`)).body,
      listModules: (await engine.api('GET', '/v1/modules')).body,
      changeModules: installed.body,
      listInstalledModules: (await engine.api('GET', `/v1/databases/${name}/modules`)).body,
      listCommits: (await engine.api('GET', `/v1/databases/${name}/commits`)).body,
      getVersion: (await engine.api('GET', '/v1/version')).body,
    };
    const notFound = await engine.api('GET', `/v1/databases/nope_${uniq()}`);
    expect(notFound.status).toBe(404);
    await engine.api('DELETE', `/v1/databases/${name}`);

    // Object literals: a field the document lacks is an error as much as a missing or mistyped one.
    const calls = `
import type { operations } from './api';
type Json<O extends keyof operations, S extends keyof operations[O]['responses']> =
  operations[O]['responses'][S] extends { content: { 'application/json': infer B } } ? B : never;
type Body<O extends keyof operations> = operations[O] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;

${Object.entries(answers)
  .map(([op, body]) => `const ${op}: Json<'${op}', ${op === 'createDatabase' ? 201 : 200}> = ${JSON.stringify(body)};`)
  .join('\n')}
const notFound: Json<'getDatabase', 404> = ${JSON.stringify(notFound.body)};
const name: operations['dropDatabase']['parameters']['path']['name'] = ${JSON.stringify(name)};
const create: Body<'createDatabase'> = { name };
const install: Body<'changeModules'> = { install: ['fixture_notes@0.2.0'] };
const rollout: Body<'startRollout'> = { strategy: 'one-at-a-time' };
const region = listModules.modules.flatMap((m) => m.versions).flatMap((v) => v.rpc).flatMap((r) => r.args).map((a) => a.defaultSql ?? a.default);
const status: 'creating' | 'ready' | 'dropping' = getDatabase.status;
// @ts-expect-error: the document says the body has no such field
const withOwner: Body<'createDatabase'> = { name, owner: 'me' };
// @ts-expect-error: not a strategy
const badRollout: Body<'startRollout'> = { strategy: 'big-bang' };
// @ts-expect-error: no such operation
type Missing = operations['deleteEverything'];
export { createDatabase, changeModules, listInstalledModules, listCommits, getVersion, notFound, create, install, rollout, region, status, withOwner, badRollout };
`;
    expect(await typeCheck(calls)).toEqual([]);
    // The check bites: a field the document does not describe is an error.
    const errors = await typeCheck(`import type { operations } from './api';
const v: operations['getVersion']['responses'][200]['content']['application/json'] = { version: '1', postgres: '17', node: 'v20', uptime: 3 };
export { v };`);
    expect(errors).toEqual([expect.stringContaining("'uptime' does not exist")]);
  }, 180_000);
});
