import { z } from 'zod';
import { ENGINE_VERSION } from '../version';
import { AnyRoute, error, needsToken, ResponseSpec, route } from './route';
import { components } from './schemas';

type JsonSchema = Record<string, unknown>;

const ref = (id: string) => `#/components/schemas/${id}`;

/** Answers every route can give beyond its own: the token check and the body parser's. */
function commonResponses(r: AnyRoute): Record<number, ResponseSpec> {
  const common: Record<number, ResponseSpec> = {};
  if (r.body) Object.assign(common, { 400: error('Bad body'), 413: error('Body over 100 kB') });
  if (needsToken(r)) common[401] = error('Missing or invalid admin token');
  return common;
}

/**
 * The OpenAPI 3.0 document of the routes, generated from their zod schemas: request bodies as
 * validated (io: input), answers as the handlers are typed to return.
 */
export function openApiDocument(routes: readonly AnyRoute[]) {
  // One conversion for every schema, so the named components become $refs wherever they are used.
  // The others get a throwaway id here and are written inline below.
  const registry = z.registry<{ id: string }>();
  const named = new Map<z.ZodType, string>();
  for (const [id, schema] of Object.entries(components)) {
    registry.add(schema, { id });
    named.set(schema, id);
  }
  const inline = new Map<z.ZodType, string>();
  const add = (schema: z.ZodType) => {
    if (!named.has(schema) && !inline.has(schema)) {
      inline.set(schema, `inline_${inline.size}`);
      registry.add(schema, { id: inline.get(schema)! });
    }
  };
  for (const r of routes) {
    if (r.body) add(r.body);
    for (const p of Object.values(r.params?.shape ?? {})) add(p as z.ZodType);
    for (const res of Object.values<ResponseSpec>(r.responses)) if (res.body) add(res.body);
  }
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    io: 'input',
    uri: ref,
    // Noise for a reader: the regex zod checks a format (date-time, uuid) with, and the bounds of
    // every integer (the safe-integer range).
    override: ({ jsonSchema: s }) => {
      if (s.format && s.pattern) delete s.pattern;
      if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
      if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
    },
  });
  const converted = (id: string): JsonSchema => {
    const { $id: _, ...json } = schemas[id] as JsonSchema;
    return json;
  };
  const schemaOf = (s: z.ZodType): JsonSchema => (named.has(s) ? { $ref: ref(named.get(s)!) } : converted(inline.get(s)!));

  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Set<string>();
  for (const r of routes) {
    if (!/^[a-z][A-Za-z0-9]*$/.test(r.operationId) || operationIds.has(r.operationId)) {
      throw new Error(`${r.method} ${r.path}: operationId '${r.operationId}' must be camelCase and unique`);
    }
    operationIds.add(r.operationId);
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    const declared = Object.keys(r.params?.shape ?? {});
    if (pathParams.join() !== declared.join()) throw new Error(`${r.method} ${r.path}: params must declare exactly ${pathParams.join(', ') || 'nothing'}`);
    const responses = { ...commonResponses(r), ...(r.responses as Record<number, ResponseSpec>) };
    paths[r.path] ??= {};
    paths[r.path][r.method] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      ...(needsToken(r) ? {} : { security: [] }),
      ...(r.params
        ? { parameters: declared.map((name) => ({ name, in: 'path', required: true, schema: schemaOf(r.params!.shape[name] as z.ZodType) })) }
        : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(responses)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([status, res]) => [
            status,
            {
              description: res.description,
              ...(res.headers
                ? { headers: Object.fromEntries(Object.entries(res.headers).map(([h, description]) => [h, { description, schema: { type: 'string' } }])) }
                : {}),
              ...(res.body ? { content: { 'application/json': { schema: schemaOf(res.body) } } } : {}),
            },
          ]),
      ),
    };
  }

  return {
    openapi: '3.0.3',
    info: {
      title: 'iasql admin API',
      version: ENGINE_VERSION,
      license: { name: 'AGPL-3.0-only', url: 'https://www.gnu.org/licenses/agpl-3.0.html' },
      description:
        'Manage the databases of an iasql engine. Every /v1 route needs `Authorization: Bearer <admin token>`; ' +
        'the token is in <IASQL_HOME>/admin-token unless IASQL_ADMIN_TOKEN is set.',
    },
    servers: [{ url: 'http://127.0.0.1:8088' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.keys(components).map((id) => [id, converted(id)])),
    },
  };
}

/** Looks like the document; for the route that serves it. */
const OpenApiJson = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

/** The routes plus GET /openapi.json, which serves the document generated from all of them, itself included. */
export function withOpenApi(routes: readonly AnyRoute[]): AnyRoute[] {
  const all: AnyRoute[] = [
    ...routes,
    route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This document (no token needed)',
      responses: { 200: { description: 'OpenAPI 3 document', body: OpenApiJson } },
      handler: (_input, reply) => reply(200, document),
    }),
  ];
  const document = openApiDocument(all);
  return all;
}
