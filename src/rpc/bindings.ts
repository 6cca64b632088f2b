import { escapeIdentifier as ident, escapeLiteral as literal } from 'pg';
import type { RpcArgument, RpcMethod, RpcType } from '../modules/define';

export const DEFAULT_RPC_TIMEOUT_MS = 60_000;

/**
 * The Postgres functions of a module version's rpc map. Each is a SECURITY DEFINER SQL function
 * with a fixed search_path that packs its arguments into jsonb, hands them to the shared entry
 * point iasql_internal.rpc_call, and unpacks the result into the declared shape. Names and types
 * were checked by the registry (identifiers, a closed list of types); they are still quoted, and
 * every value from a declaration goes in as a literal.
 */
export function createRpcFunctions(module: string, rpc: Record<string, RpcMethod>, role: string): string[] {
  return Object.entries(rpc).flatMap(([name, decl]) => {
    const sig = signature(name, decl.args ?? []);
    const params = (decl.args ?? []).map(
      (a) => `${a.variadic ? 'VARIADIC ' : ''}${ident(a.name)} ${a.type}${a.defaultSql ? ` DEFAULT ${defaultCall(a.defaultSql)}` : 'default' in a ? ` DEFAULT ${defaultLiteral(a)}` : ''}`,
    );
    const packed = (decl.args ?? []).length
      ? `jsonb_build_object(${(decl.args ?? []).map((a) => `${literal(a.name)}, ${ident(a.name)}`).join(', ')})`
      : `'{}'::jsonb`;
    const call = `iasql_internal.rpc_call(${literal(module)}, ${literal(name)}, ${packed}, ${Number(decl.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS)})`;
    const returns = decl.returns;
    let returnsSql: string;
    let body: string;
    if ('scalar' in returns) {
      returnsSql = returns.scalar;
      body = `SELECT ${fromJson('r', returns.scalar)} FROM (SELECT ${call} AS r) s`;
    } else {
      returnsSql = `TABLE (${returns.table.map((c) => `${ident(c.name)} ${c.type}`).join(', ')})`;
      body = `SELECT * FROM jsonb_to_recordset(${call}) AS t(${returns.table.map((c) => `${ident(c.name)} ${c.type}`).join(', ')})`;
    }
    const comment = commentOf(decl);
    return [
      `CREATE FUNCTION public.${ident(name)}(${params.join(', ')}) RETURNS ${returnsSql}
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $iasql_rpc$ ${body} $iasql_rpc$`,
      `COMMENT ON FUNCTION ${sig} IS ${literal(comment)}`,
      `REVOKE ALL ON FUNCTION ${sig} FROM PUBLIC`,
      ...(role ? [`GRANT EXECUTE ON FUNCTION ${sig} TO ${ident(role)}`] : []),
    ];
  });
}

/**
 * The function's comment (\\df+, iasql_help()): the description, a line per described argument,
 * then `Example: ...`. iasql_help() splits its sample usage off at "\nExample: ", so the argument
 * lines stay in its description column.
 */
export function commentOf(decl: RpcMethod): string {
  const described = (decl.args ?? []).filter((a) => a.description);
  return [
    decl.description,
    ...(described.length ? ['Arguments:', ...described.map((a) => `  ${a.name}: ${a.description}`)] : []),
    ...(decl.example ? [`Example: ${decl.example}`] : []),
  ].join('\n');
}

export function dropRpcFunctions(rpc: Record<string, RpcMethod>): string[] {
  return Object.entries(rpc).map(([name, decl]) => `DROP FUNCTION IF EXISTS ${signature(name, decl.args ?? [])}`);
}

/** The function's identity, e.g. public."resize"(text, integer), as \df shows it. */
export function signature(name: string, args: RpcArgument[]): string {
  return `public.${ident(name)}(${args.map((a) => a.type).join(', ')})`;
}

/** A declared default call (checked by the registry: name()) as schema-qualified SQL. */
export const DEFAULT_CALL = /^([a-z_][a-z0-9_]{0,62})\(\)$/;
function defaultCall(sql: string): string {
  const m = DEFAULT_CALL.exec(sql);
  if (!m) throw new Error(`defaultSql must be a call without arguments, like name(): ${sql.slice(0, 60)}`);
  return `public.${ident(m[1])}()`;
}

function defaultLiteral(a: RpcArgument): string {
  const v = a.default;
  if (v === null || v === undefined) return `NULL::${a.type}`;
  if (typeof v === 'boolean') return `${v}::${a.type}`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`argument ${a.name}: default must be a finite number`);
    return `${literal(String(v))}::${a.type}`;
  }
  return `${literal(String(v))}::${a.type}`;
}

/** SQL turning the jsonb result `r` into the declared type. */
function fromJson(r: string, type: RpcType): string {
  switch (type) {
    case 'jsonb':
      return r;
    case 'json':
      return `${r}::json`;
    case 'text':
      return `${r} #>> '{}'`;
    case 'text[]':
      return `CASE WHEN jsonb_typeof(${r}) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(${r})) END`;
    default:
      return `(${r} #>> '{}')::${type}`;
  }
}
