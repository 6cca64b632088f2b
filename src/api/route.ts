import type express from 'express';
import { z } from 'zod';
import { badRequest } from '../errors';
import { ErrorBody } from './schemas';
import type { ApiDeps } from './server';

/** One answer a route can give; `body` is the zod schema of its JSON (none: an empty answer). */
export interface ResponseSpec {
  description: string;
  body?: z.ZodType;
  /** Header name to description. */
  headers?: Record<string, string>;
}
type Responses = Record<number, ResponseSpec>;

declare const replied: unique symbol;
/** An answer, made by the handler's `reply` so that its body is checked against the status's schema. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  [replied]: true;
}
/** `reply(status, body)`: the status must be one of the route's, the body of that status's schema (undefined: no body). */
export type ReplyFn<R extends Responses> = <S extends keyof R & number>(
  status: S,
  body: R[S] extends { body: infer B extends z.ZodType } ? z.input<B> : undefined,
  headers?: Record<string, string>,
) => Reply;

/**
 * A route, declared once: the express handler is mounted from it (mount) and the OpenAPI
 * document is generated from it (openapi.ts). Errors are thrown (IasqlError) and answered by
 * errorHandler; the statuses they can take are listed in `responses` for the document.
 */
export interface Route<B extends z.ZodType = z.ZodType, R extends Responses = Responses> {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form, e.g. `/v1/databases/{name}`. Everything under /v1 needs the admin token. */
  path: string;
  /** The operation's name in the document (camelCase, unique, never renamed): generated clients call it by this name. */
  operationId: string;
  summary: string;
  description?: string;
  /** The path parameters, for the document; the managers check them (their 400s and 404s are part of the API). */
  params?: z.ZodObject;
  /** The JSON body; a mismatch is a 400 before the handler runs. */
  body?: B;
  responses: R;
  handler(input: { body: z.output<B>; params: Record<string, string>; deps: ApiDeps }, reply: NoInfer<ReplyFn<R>>): Reply | Promise<Reply>;
}

/** A table holds routes of every body and answer type. */
export type AnyRoute = Route<any, any>;

/** Declares a route; only there to infer the handler's types from the schemas. */
export const route = <B extends z.ZodType, R extends Responses>(r: Route<B, R>): Route<B, R> => r;

/** An error answer, `{"error": {"code", "message"}}`, for a route's `responses`. */
export const error = (description: string): ResponseSpec => ({ description, body: ErrorBody });

export const TOKEN_PREFIX = '/v1';
export const needsToken = (r: AnyRoute) => r.path.startsWith(`${TOKEN_PREFIX}/`);

const makeReply = (status: number, body: unknown, headers?: Record<string, string>) => ({ status, body, headers }) as Reply;

/** Registers each route on the app: body validation, the handler, then its reply as status, headers and JSON. */
export function mount(app: express.Express, routes: readonly AnyRoute[], deps: ApiDeps): void {
  for (const r of routes) {
    app[r.method](r.path.replace(/\{(\w+)\}/g, ':$1'), async (req: express.Request, res: express.Response) => {
      const body = r.body ? parseBody(r.body, req.body) : undefined;
      const run = async () => r.handler({ body, params: req.params as Record<string, string>, deps }, makeReply);
      // A read that met a pooled connection whose backend had just gone (a failover, an operator's
      // pg_terminate_backend) runs once more on a fresh one: reads are safe to repeat.
      const attempt = (left: number): Promise<Reply> =>
        run().catch((err: unknown) => {
          if (r.method === 'get' && left > 0 && connectionLost(err)) return attempt(left - 1);
          throw err;
        });
      const answer = await attempt(3);
      res.status(answer.status);
      if (answer.headers) res.set(answer.headers);
      if (answer.body === undefined) res.end();
      else res.json(answer.body);
    });
  }
}

/** Errors of a connection that died under the query (admin shutdown, crash, network), not of the query. */
export function connectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return ['57P01', '57P02', '57P03'].includes(e?.code ?? '') || (e?.code ?? '').startsWith('08') || /Connection terminated|connection ended|ECONNRESET/i.test(e?.message ?? '');
}

/** Parses a JSON body with a schema; any mismatch is a 400 that says what was wrong. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('request body must be a JSON object (send Content-Type: application/json)');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
    throw badRequest(`${where}${message}`);
  }
  return parsed.data;
}
