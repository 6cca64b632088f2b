import type { RpcArgument, RpcReturns, RpcType } from '../modules/define';
import { RPC_SQLSTATE, RpcError } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What Postgres' numeric input accepts, as node-pg hands numeric values back (a decimal string, or NaN / ±Infinity). */
const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^([-+]?Infinity|NaN)$/;
const INT4 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT8 = [-(2n ** 63n), 2n ** 63n - 1n] as const;

/**
 * How deep a call's arguments may nest (the arguments object itself is level 1). Postgres' jsonb
 * nests as deep as a tenant likes, while JSON.stringify recurses and overflows the stack at a few
 * thousand levels: on the dispatch path, after the handler, that once left a call unfinished and
 * its connection never given back. DynamoDB allows 32 levels; 100 leaves room for any real value.
 */
export const MAX_ARGUMENT_DEPTH = 100;

/**
 * How deep `value` nests (a scalar is 0, {} or [] is 1), counted with a stack of its own rather
 * than recursion, so any depth can be measured (and named in an error). Linear in its size.
 */
function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > deepest) deepest = depth;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * jsonDepth of a call's arguments, measured once per arguments object: the check before the
 * handler and the history row after it both need it, and a 6 MB argument is walked only once.
 */
const depths = new WeakMap<object, number>();
export function argumentsDepth(args: object): number {
  let depth = depths.get(args);
  if (depth === undefined) depths.set(args, (depth = jsonDepth(args)));
  return depth;
}

/**
 * A whole number within [min, max]: a JS integer, or a decimal string (node-pg returns bigint,
 * e.g. count(*), as a string, which is also the only exact form above 2^53).
 */
function wholeWithin(v: unknown, [min, max]: readonly [bigint, bigint]): boolean {
  let n: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^[-+]?\d{1,20}$/.test(v)) n = BigInt(v);
  else return false;
  return n >= min && n <= max;
}

function fits(type: RpcType, v: unknown): boolean {
  switch (type) {
    case 'text':
    case 'timestamptz':
      return typeof v === 'string';
    case 'uuid':
      return typeof v === 'string' && UUID.test(v);
    case 'integer':
      return typeof v === 'number' && wholeWithin(v, INT4);
    case 'bigint':
      return wholeWithin(v, INT8);
    case 'numeric':
      return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && NUMERIC.test(v));
    case 'boolean':
      return typeof v === 'boolean';
    case 'text[]':
      return Array.isArray(v) && v.every((x) => x === null || typeof x === 'string');
    case 'json':
    case 'jsonb':
      return true;
  }
}

/**
 * Checks a call's arguments against the method's declaration before the handler runs: every
 * required argument present and not NULL, no unknown ones, each of its declared type.
 */
export function checkArguments(where: string, declared: RpcArgument[], given: Record<string, unknown>): Record<string, unknown> {
  const bad = (message: string) => new RpcError(`${where}: ${message}`, { sqlstate: RPC_SQLSTATE.badArguments, hint: `see SELECT * FROM iasql_help()` });
  if (!given || typeof given !== 'object' || Array.isArray(given)) throw bad('arguments must be a JSON object');
  const depth = argumentsDepth(given);
  if (depth > MAX_ARGUMENT_DEPTH) {
    throw new RpcError(`${where}: the arguments are nested ${depth} levels deep, more than the limit of ${MAX_ARGUMENT_DEPTH}`, {
      sqlstate: RPC_SQLSTATE.badArguments,
      hint: `pass flatter arguments (a JSON value nested at most ${MAX_ARGUMENT_DEPTH} levels deep)`,
    });
  }
  const names = new Set(declared.map((a) => a.name));
  for (const k of Object.keys(given)) if (!names.has(k)) throw bad(`unknown argument '${k}'`);
  const out: Record<string, unknown> = {};
  for (const a of declared) {
    const v = given[a.name];
    if (v === undefined || v === null) {
      if (!('default' in a) && !a.defaultSql) throw bad(`argument '${a.name}' is required (got NULL)`);
      out[a.name] = v ?? a.default ?? null;
      continue;
    }
    if (!fits(a.type, v)) throw bad(`argument '${a.name}' must be of type ${a.type}, got ${JSON.stringify(v).slice(0, 60)}`);
    out[a.name] = v;
  }
  return out;
}

/** Checks a handler's result against the declared return shape; returns what is stored. */
export function checkResult(where: string, returns: RpcReturns, value: unknown): unknown {
  const bad = (message: string) => new RpcError(`${where}: the handler returned ${message}`, { sqlstate: RPC_SQLSTATE.handler });
  if ('scalar' in returns) {
    if (value === undefined || value === null) return null;
    if (!fits(returns.scalar, value)) throw bad(`${JSON.stringify(value).slice(0, 60)}, not ${article(returns.scalar)} ${returns.scalar}`);
    return value;
  }
  const rows = value ?? [];
  if (!Array.isArray(rows)) throw bad('something other than a list of rows');
  const columns = new Map(returns.table.map((c) => [c.name, c.type]));
  return rows.map((row, i) => {
    if (!row || typeof row !== 'object' || Array.isArray(row)) throw bad(`row ${i + 1} that is not an object`);
    for (const [k, v] of Object.entries(row)) {
      const type = columns.get(k);
      if (!type) throw bad(`row ${i + 1} with unknown column '${k}'`);
      if (v !== null && v !== undefined && !fits(type, v)) throw bad(`row ${i + 1} column '${k}' = ${JSON.stringify(v).slice(0, 60)}, not ${article(type)} ${type}`);
    }
    return row;
  });
}

/** 'an' before a vowel (an integer), else 'a' (a bigint). */
const article = (word: string) => (/^[aeiou]/i.test(word) ? 'an' : 'a');
