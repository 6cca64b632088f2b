import { IasqlError } from '../errors';

/**
 * Project SQLSTATEs of rpc calls, as the caller sees them in psql (documented in docs/rpc.md).
 * Class IQ is not used by Postgres.
 */
export const RPC_SQLSTATE = {
  handler: 'IQ001',
  badArguments: 'IQ002',
  unknownMethod: 'IQ003',
  timedOut: 'IQ004',
  workerLost: 'IQ005',
  deadlock: 'IQ006',
  unavailable: 'IQ008',
} as const;

export interface RpcErrorBody {
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** An error a handler throws on purpose; it reaches the caller as is. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly options: { sqlstate?: string; detail?: string; hint?: string } = {},
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** What the caller gets for any error a call ended with. Never a stack trace. */
export function toRpcErrorBody(err: unknown, where: string): RpcErrorBody {
  // Engine errors already say what was wrong; a 4xx one means the arguments were.
  if (err instanceof IasqlError) {
    return { sqlstate: err.status < 500 ? RPC_SQLSTATE.badArguments : RPC_SQLSTATE.handler, message: err.message };
  }
  if (err instanceof RpcError) {
    return { sqlstate: err.options.sqlstate ?? RPC_SQLSTATE.handler, message: err.message, detail: err.options.detail, hint: err.options.hint };
  }
  const e = err as { code?: unknown; name?: string; message?: string; $metadata?: unknown; $fault?: unknown };
  if (e?.code === '40P01') {
    return {
      sqlstate: RPC_SQLSTATE.deadlock,
      message: `${where} needs rows or tables your own transaction holds locks on`,
      hint: 'commit or roll back the changes first, or call it outside the transaction',
    };
  }
  // AWS SDK v3 service errors carry the service's error code as their name.
  if (e && typeof e === 'object' && '$metadata' in e) {
    return { sqlstate: RPC_SQLSTATE.handler, message: `${where} failed: ${e.message}`, detail: `cloud error code: ${e.name}` };
  }
  return { sqlstate: RPC_SQLSTATE.handler, message: `${where} failed: ${e?.message ?? String(err)}` };
}
