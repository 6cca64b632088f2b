import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { BoundedPool } from './bounded-pool';
import { startDynalite, type Dynalite, type StoreAnswer } from './dynalite';
import { scratchDir } from './files';
import { sendAwsError, type AuthenticatedRequest, type LocalService } from './service';

/** dynalites open at once by default: each holds a LevelDB's files and memory. */
export const DEFAULT_MAX_OPEN_DYNAMODB = 32;
/**
 * dynalite answers CreateTable, UpdateTable and DeleteTable first and writes the table's new
 * state on a timer right after (createTableMs 0), so a client quick enough saw CREATING, and an
 * instance closed in between kept it for good. Their answers are held back until the table is
 * ACTIVE (or gone): what the answer says is unchanged (CREATING, as in AWS), the next request
 * sees the settled table, and the instance is idle only once nothing is left to write. With a
 * propagation delay the answer goes at once (the table is CREATING / UPDATING / DELETING for that
 * long, on purpose) and the instance stays in use until the table has settled.
 */
const SETTLES: Record<string, 'ACTIVE' | 'GONE'> = {
  'DynamoDB_20120810.CreateTable': 'ACTIVE',
  'DynamoDB_20120810.UpdateTable': 'ACTIVE',
  'DynamoDB_20120810.DeleteTable': 'GONE',
};
/** How long an answer waits for its table to settle (it takes a few milliseconds). */
const SETTLE_TIMEOUT_MS = 2000;

/**
 * DynamoDB: one dynalite per account and region, each with its own LevelDB directory
 * `<dataDir>/<accountId>/<region>`. dynalite keeps a single table namespace whatever a request
 * is signed for, while DynamoDB tables belong to an account and a region; so each pair gets its
 * own dynalite, and an account can only ever reach its own. Requests are handed to it in this
 * process (nothing listens: see startDynalite). At most `maxOpen` are open at once: the least recently used idle one is closed and
 * reopened from its directory on demand. Without a data directory the LevelDBs live in a
 * temporary directory removed on stop (an in-memory store could not be closed and reopened).
 * Tables change state at once (no CREATING/DELETING/UPDATING delay) unless `propagationMs` says otherwise.
 */
export class LocalDynamoDb implements LocalService {
  private readonly pool: BoundedPool<Dynalite>;
  /** Accounts being removed or gone: nothing of theirs is opened again. */
  private readonly removed = new Set<string>();
  private scratch: string | undefined;

  /** `propagationMs` (default 0): how long tables stay CREATING, UPDATING or DELETING. */
  constructor(
    private readonly dataDir: string | undefined,
    private readonly logger: Logger,
    maxOpen = DEFAULT_MAX_OPEN_DYNAMODB,
    private readonly propagationMs = 0,
  ) {
    this.pool = new BoundedPool<Dynalite>(maxOpen, (key) => this.open(key), (dynalite) => dynalite.close());
  }

  /** The operation a request calls (its X-Amz-Target, DynamoDB_20120810.<Operation>), and its JSON input. */
  operationOf(req: http.IncomingMessage, body: Buffer): { name: string; input: Record<string, unknown> } | undefined {
    const target = /^DynamoDB_\d+\.(\w+)$/.exec(String(req.headers['x-amz-target'] ?? ''));
    if (!target) return undefined;
    let input: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(body.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) input = parsed;
    } catch {
      // dynalite answers an unreadable body itself
    }
    return { name: target[1], input };
  }

  handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, { account, region }: AuthenticatedRequest): void {
    this.pool.use(`${account.accountId}/${region}`, (dynalite) => this.forward(req, body, res, dynalite)).catch((err: Error) => {
      this.logger.error({ err: err.message, accountId: account.accountId, region }, 'local DynamoDB request failed');
      sendAwsError(req, res, 500, 'InternalServerError', `local DynamoDB (${region}) failed: ${err.message}`);
    });
  }

  /**
   * Passes the request to `dynalite` and its answer back; settles once the exchange is over, so
   * the dynalite is not closed under it. The body was read whole before this point: dynalite
   * always gets a complete request, even when the client goes away.
   */
  private async forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, dynalite: Dynalite): Promise<void> {
    const target = String(req.headers['x-amz-target']);
    const settles = SETTLES[target];
    if (!settles) return this.relay(req, body, res, dynalite);
    const table = tableName(body);
    const busy = this.propagationMs > 0 && target !== 'DynamoDB_20120810.CreateTable' ? await this.inTransition(dynalite, req, table) : undefined;
    if (busy) return sendAwsError(req, res, 400, 'ResourceInUseException', busy, {}, 'dynamodb');
    const answer = await this.call(dynalite, req, body);
    if (answer.status === 200 && this.propagationMs === 0) await this.settled(dynalite, req, table, settles, SETTLE_TIMEOUT_MS);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
    if (answer.status === 200 && this.propagationMs > 0) await this.settled(dynalite, req, table, settles, this.propagationMs + SETTLE_TIMEOUT_MS);
  }

  /**
   * AWS's refusal of an UpdateTable or DeleteTable while the table is still being created or
   * updated (dynalite refuses only a DeleteTable of a CREATING table); undefined when it may go ahead.
   */
  private async inTransition(dynalite: Dynalite, req: http.IncomingMessage, table: string | undefined): Promise<string | undefined> {
    if (!table) return undefined;
    const { status, body } = await this.call(dynalite, req, Buffer.from(JSON.stringify({ TableName: table })), 'DynamoDB_20120810.DescribeTable');
    const state = status === 200 ? JSON.parse(body.toString()).Table?.TableStatus : undefined;
    const doing = ({ CREATING: 'created', UPDATING: 'updated' } as Record<string, string>)[state];
    return doing && `Attempt to change a resource which is still in use: Table is being ${doing}: ${table}`;
  }

  private async relay(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, dynalite: Dynalite): Promise<void> {
    const answer = await this.call(dynalite, req, body);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  /** One request to `dynalite`. `target` replaces the request's operation. */
  private call(dynalite: Dynalite, req: http.IncomingMessage, body: Buffer, target?: string): Promise<StoreAnswer> {
    const headers: http.IncomingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    if (target) headers['x-amz-target'] = target;
    // The request's own path: a presigned request keeps its query (dynalite wants some signature there).
    return dynalite.request({ method: req.method ?? 'POST', url: req.url ?? '/', headers, body });
  }

  /** Waits until dynalite has written the table's new state (see SETTLES). */
  private async settled(dynalite: Dynalite, req: http.IncomingMessage, table: string | undefined, state: 'ACTIVE' | 'GONE', timeoutMs: number): Promise<void> {
    if (!table) return;
    const describe = Buffer.from(JSON.stringify({ TableName: table }));
    // Checked often while nothing is meant to take long, less often through a propagation delay.
    const pause = this.propagationMs > 0 ? 20 : 1;
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, pause))) {
      // The store closed meanwhile (the local cloud stops, the account went): nothing left to wait for.
      const answer = await this.call(dynalite, req, describe, 'DynamoDB_20120810.DescribeTable').catch((err: Error) => {
        this.logger.debug({ table, err: err.message }, 'local DynamoDB table not followed further');
        return undefined;
      });
      if (!answer) return;
      const { status, body } = answer;
      if (state === 'GONE' ? status === 400 && body.includes('ResourceNotFoundException') : status === 200 && JSON.parse(body.toString()).Table?.TableStatus === 'ACTIVE') return;
    }
    this.logger.warn({ table }, `local DynamoDB table did not become ${state} within ${timeoutMs} ms`);
  }

  private open(key: string): Promise<Dynalite> {
    const [accountId, region] = key.split('/');
    if (this.removed.has(accountId)) return Promise.reject(new Error(`account ${accountId} was removed`));
    return startDynalite(path.join(this.root(), accountId, region), accountId, region, this.logger, this.propagationMs);
  }

  private root(): string {
    return this.dataDir ?? (this.scratch ??= scratchDir('iasql-dynamodb-'));
  }

  async removeAccount(accountId: string): Promise<void> {
    this.removed.add(accountId);
    await this.pool.drop((key) => key.startsWith(`${accountId}/`));
    if (this.dataDir || this.scratch) fs.rmSync(path.join(this.root(), accountId), { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    await this.pool.stop();
    if (this.scratch) fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}

function tableName(body: Buffer): string | undefined {
  try {
    const name = (JSON.parse(body.toString('utf8')) as { TableName?: unknown }).TableName;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}
