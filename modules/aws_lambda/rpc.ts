import { lazyRequire } from '../aws_account/clients';
import { zipSync } from 'fflate';
import type { RpcContext, RpcMethod } from '../../src/modules/define';
import { RpcError, RPC_SQLSTATE } from '../../src/rpc/errors';
import type { AwsAccountExports } from '../aws_account';
import { lambda } from './mapper';

const Lambda = lazyRequire<typeof import('@aws-sdk/client-lambda')>('@aws-sdk/client-lambda');

const regionOf = async (ctx: RpcContext, region: unknown) =>
  typeof region === 'string' && region ? region : (ctx.dependencies.aws_account as unknown as AwsAccountExports).defaultRegion();

/**
 * Invokes a function and returns what it answered, as a row a query can use. An invoke is only a
 * call: it opens no change set and runs no commit.
 */
export const invokeLambdaFunction: RpcMethod = {
  description: "Invokes a Lambda function with a JSON payload; returns its answer (payload as text: payload::json->>'field'); a handler's error is in `error`, not raised",
  example: `SELECT payload::json->>'total' FROM invoke_lambda_function('adder', '{"a": 2, "b": 40}');`,
  args: [
    { name: 'lambda_function_name', type: 'text', description: 'the function, as in lambda_function.name' },
    { name: 'function_payload', type: 'json', default: '{}', description: 'the event the handler gets' },
    { name: 'region', type: 'text', defaultSql: 'default_aws_region()', description: "the function's region (default: default_aws_region(); NULL means the same)" },
  ],
  returns: {
    table: [
      { name: 'function_name', type: 'text' },
      { name: 'version', type: 'text' },
      { name: 'status', type: 'integer' },
      { name: 'payload', type: 'text' },
      { name: 'error', type: 'text' },
    ],
  },
  timeoutMs: 900_000 + 30_000, // Lambda's own limit, and a margin
  handler: async (ctx, args) => {
    const name = String(args.lambda_function_name);
    const region = await regionOf(ctx, args.region);
    const client = await lambda(ctx, region);
    let out;
    try {
      // An explicit NULL payload arrives as the declared default's text.
      const body = args.function_payload === '{}' || args.function_payload === null ? '{}' : JSON.stringify(args.function_payload);
      out = await client.send(new Lambda.InvokeCommand({ FunctionName: name, Payload: Buffer.from(body) }), { abortSignal: ctx.signal as never });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'ResourceNotFoundException') {
        throw new RpcError(`invoke_lambda_function: there is no function '${name}' in ${region}`, {
          detail: `cloud error code: ${e.name}`,
          hint: 'SELECT name, region FROM lambda_function lists the functions iasql manages; commit a new one first',
        });
      }
      throw new RpcError(`invoke_lambda_function: ${name} in ${region}: ${e.message}`, { detail: `cloud error code: ${e.name}` });
    }
    const payload = out.Payload && out.Payload.length ? Buffer.from(out.Payload).toString('utf8') : null;
    let error: string | null = null;
    if (out.FunctionError) {
      let body: { errorType?: string; errorMessage?: string } = {};
      try {
        body = JSON.parse(payload ?? '{}');
      } catch {
        /* not JSON: the raw payload says it */
      }
      error = `${out.FunctionError}: ${body.errorType ?? 'Error'}: ${body.errorMessage ?? payload ?? ''}`;
    }
    return [{ function_name: name, version: out.ExecutedVersion ?? '$LATEST', status: out.StatusCode ?? null, payload, error }];
  },
};

/** Paths inside a zip: relative, forward slashes, no '..' (a Lambda zip unpacks under /var/task). */
export function checkZipPath(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'a path is empty';
  if (path.length > 1024) return `path '${path.slice(0, 40)}...' is longer than 1024 characters`;
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return `path '${path}' is absolute: paths are relative to the function's root`;
  if (path.includes('\\')) return `path '${path}' has a backslash: separate folders with /`;
  if (path.includes('\0')) return `path '${path.replace(/\0/g, '\\0')}' has a NUL character`;
  if (path.split('/').some((s) => s === '..')) return `path '${path}' goes up with '..': paths must stay inside the function's root`;
  if (path.split('/').some((s) => s === '' || s === '.')) return `path '${path}' has an empty or '.' segment`;
  return undefined;
}

export function buildZip(files: Record<string, unknown>): string {
  const entries: Record<string, Uint8Array> = {};
  for (const [path, content] of Object.entries(files)) {
    const problem = checkZipPath(path);
    if (problem) throw new RpcError(`lambda_zip: ${problem}`, { sqlstate: RPC_SQLSTATE.badArguments, hint: `e.g. lambda_zip('{"index.js": "exports.handler = async (e) => e"}')` });
    if (typeof content !== 'string') {
      throw new RpcError(`lambda_zip: the content of '${path}' must be a string, not ${content === null ? 'null' : typeof content}`, { sqlstate: RPC_SQLSTATE.badArguments });
    }
    entries[path] = new TextEncoder().encode(content);
  }
  if (Object.keys(entries).length === 0) throw new RpcError('lambda_zip: no files given', { sqlstate: RPC_SQLSTATE.badArguments, hint: `lambda_zip('{"index.js": "..."}')` });
  // A fixed timestamp: the same sources give the same zip (and CodeSha256) every time.
  return Buffer.from(zipSync(entries, { mtime: new Date('2020-01-01T00:00:00Z') })).toString('base64');
}

export const lambdaZip: RpcMethod = {
  description: 'A Lambda deployment package (base64 zip, for lambda_function.zip_b64) from sources: a JSON object of path -> content. Over rows: lambda_zip(path, content)',
  example: `INSERT INTO lambda_function (name, handler, runtime, role_name, zip_b64) VALUES ('adder', 'index.handler', 'nodejs20.x', 'lambda-basic', lambda_zip('{"index.js": "exports.handler = async (e) => ({ total: e.a + e.b })"}'));`,
  args: [{ name: 'files', type: 'jsonb' }],
  returns: { scalar: 'text' },
  handler: async (_ctx, args) => {
    if (!args.files || typeof args.files !== 'object' || Array.isArray(args.files)) {
      throw new RpcError('lambda_zip: files must be a JSON object of path -> content', { sqlstate: RPC_SQLSTATE.badArguments, hint: `lambda_zip('{"index.js": "..."}')` });
    }
    return buildZip(args.files as Record<string, unknown>);
  },
};
