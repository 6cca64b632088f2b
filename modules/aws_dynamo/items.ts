import { lazyRequire } from '../aws_account/clients';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { RPC_SQLSTATE, RpcError } from '../../src/rpc/errors';

const DynamoUtil = lazyRequire<typeof import('@aws-sdk/util-dynamodb')>('@aws-sdk/util-dynamodb');

/**
 * DynamoDB items as plain JSON, both ways (docs/aws-modules.md, "Items as JSON"):
 *
 * - in: string → S, number → N, boolean → BOOL, null → NULL, array → L, object → M;
 * - out: the same back, sets (SS, NS, BS) as arrays, binary (B, BS) as base64 strings, and a
 *   number JSON cannot carry exactly (beyond double precision) as a string of its exact digits.
 *
 * Arguments reach a handler already parsed by JSON.parse, so a number is a double by then: an
 * integer beyond 2^53 has lost digits before it gets here and is refused rather than stored wrong.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Item = Record<string, AttributeValue>;

const bad = (message: string, hint: string) => new RpcError(message, { sqlstate: RPC_SQLSTATE.badArguments, hint });

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What a value is, for an error message: `an array`, `the string "x"`. */
export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `the ${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

/** A JSON object → a DynamoDB item (or key, or expression values); `what` names it in errors. */
export function toItem(what: string, value: unknown, hint: string): Item {
  if (!isObject(value)) throw bad(`${what} must be a JSON object of attributes, not ${kindOf(value)}`, hint);
  checkNumbers(value, what);
  return DynamoUtil.marshall(value, { removeUndefinedValues: true });
}

function checkNumbers(v: unknown, path: string): void {
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw bad(`${path}: integers beyond 2^53 lose digits on their way to DynamoDB (this one arrived as ${v})`, 'store it as a string ("12345678901234567890"), or as a number below 9007199254740992');
  }
  if (Array.isArray(v)) v.forEach((x, i) => checkNumbers(x, `${path}[${i}]`));
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) checkNumbers(x, `${path}.${k}`);
}

/** A DynamoDB item → plain JSON; undefined (no item) → null. */
export function fromItem(item: Item | undefined): Json {
  return item ? plain(DynamoUtil.unmarshall(item, { wrapNumbers: number })) : null;
}

function plain(v: unknown): Json {
  if (v instanceof Set) return [...v].map(plain);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(plain);
  if (isObject(v)) {
    const out: Record<string, Json> = {};
    for (const k in v) out[k] = plain(v[k]);
    return out;
  }
  return v as Json;
}

/** A DynamoDB number (up to 38 digits) as a JSON number when a double says it exactly, else as its digits. */
function number(digits: string): number | string {
  const n = Number(digits);
  return Number.isFinite(n) && decimal(String(n)) === decimal(digits) ? n : digits;
}

/** A decimal's value in one spelling (sign, significant digits, exponent): '1.50' and '15e-1' alike. */
function decimal(s: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s.trim());
  if (!m) return `?${s}`;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int + frac).replace(/^0+/, '');
  let e = Number(exp) - frac.length;
  if (!digits) return '0';
  while (digits.endsWith('0')) (digits = digits.slice(0, -1)), e++;
  return `${sign === '-' ? '-' : ''}${digits}e${e}`;
}
