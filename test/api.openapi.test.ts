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
