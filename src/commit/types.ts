/**
 * How a module version tells the commit engine about the cloud resources its rows stand for.
 * One `CloudEntity` per table; see docs/module-authoring.md ("Cloud resources") for a worked
 * example (modules/aws_dynamo).
 *
 * Rows are plain objects keyed by column name, as pg returns them (json columns parsed). The
 * engine owns the table's `id` primary key; mappers never see it in what they return.
 */
export type Row = Record<string, unknown>;

/** What a mapper runs with. */
export interface CloudContext {
  /** The database whose rows are being applied. */
  database: string;
  /** Reads from that database (e.g. credentials). Runs on a pool, outside the commit's transaction. */
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  logger: { debug(obj: object, msg?: string): void; info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Aborted when the caller gives up: stop and throw. */
  signal: AbortSignal;
  /** What each dependency of the module exports, at the version installed in this database. */
  dependencies: Record<string, Record<string, unknown>>;
}

export interface CloudEntity<R extends Row = Row> {
  /** The module table whose rows are these resources. It must have an `id` primary key. */
  table: string;
  /** Columns that name the resource in the cloud, e.g. ['table_name', 'region']. */
  id: string[];
  /** Concurrency bucket: operations on one service in one region share a limit (e.g. 'dynamodb'). */
  service: string;
  /** Column holding the region (for the concurrency bucket and per-region reads). */
  regionColumn?: string;
  /** Columns the cloud fills (ARNs, ids, timestamps): ignored by equality, written back after commit. */
  cloudColumns?: string[];

  /** The resource named by `id` (its id columns), or undefined when the cloud has none. */
  read(ctx: CloudContext, id: R): Promise<R | undefined>;
  /**
   * Optional: several resources at once, in the order asked (undefined where the cloud has none).
   * Plans use it when given, so a mapper can batch (aws_dynamo lists a region's tables instead of
   * describing each one that does not exist yet).
   */
  readMany?(ctx: CloudContext, ids: R[]): Promise<Array<R | undefined>>;
  /** Every resource the cloud has (in every region the module reads); null when it cannot be read yet (no credentials): nothing is imported. */
  readAll(ctx: CloudContext): Promise<R[] | null>;
  /** Creates the resource; returns it as the cloud has it now (cloud columns filled). */
  create(ctx: CloudContext, row: R): Promise<R>;
  /** Changes the resource in place to match `row`; `cloud` is what it is now. Returns the result. */
  update(ctx: CloudContext, row: R, cloud: R): Promise<R>;
  /** True when `row` cannot be reached from `cloud` in place (the engine deletes, then creates). */
  needsReplace?(row: R, cloud: R): boolean;
  delete(ctx: CloudContext, row: R): Promise<void>;
  /**
   * What of the change from `before` to `target` cannot be undone by an update back (e.g. a
   * Lambda function's code: the cloud does not give the old code back), in words; undefined when
   * all of it can. A failed commit that reverts such a change says that part is still in the cloud.
   */
  irreversible?(target: R, before: R): string | undefined;
  /**
   * Whether the row already matches the cloud. Default: every column the cloud view has, except
   * cloud columns, is equal (JSON-deep).
   */
  equals?(row: R, cloud: R): boolean;
}

/**
 * An error that means "not yet" rather than "no": the cloud is eventually consistent, and a call
 * made right after another (CreateFunction just after CreateRole) can fail until the first has
 * reached everywhere. The one call that failed is sent again, with backoff, while its error
 * matches and `forMs` (counted from the call's first attempt) has not run out; then the cloud's
 * error stands. A module declares its rules once, next to the client factory of its service
 * (see docs/module-authoring.md, "Not yet: eventual consistency"); src/commit/retry.ts applies them.
 */
export interface NotYetRule {
  /** The API operation, as the cloud names it: 'CreateFunction', 'GetRole', 'UpdateTable'. */
  operation: string;
  /** The error's name or code, e.g. 'InvalidParameterValueException' (the AWS SDK's `err.name`). */
  error: string;
  /** Only errors whose message matches: one error name can mean "not yet" or "no" (DynamoDB's LimitExceededException). */
  message?: RegExp;
  /** How long the call keeps being retried, from its first attempt (e.g. 120_000 as Terraform's AWS provider). */
  forMs: number;
  /** Why this is worth waiting for: logged with each retry. */
  why: string;
  /**
   * Only for calls the mapper sends right after creating the resource they name, through
   * `justCreated(client)`: a read of a missing resource is otherwise an answer ("it does not
   * exist"), and must stay fast (plans read many of them).
   */
  justCreated?: boolean;
}

/** One line of a plan or of what a commit did: IaSQL's shape. */
export interface PlanRow {
  action: 'create' | 'update' | 'replace' | 'delete';
  table_name: string;
  /** The row's id in its table (null when the row is gone). */
  id: number | null;
  /** The resource's cloud identity: its id column values joined by '|', e.g. `orders|us-east-1`. */
  description: string;
}

/**
 * What a mapper throws when it fails after some of its cloud calls went through and it cannot
 * undo them itself: `left` says, in words, what is in the cloud because of it (e.g. "the new
 * code"). The engine reports it as still in the cloud; what its read of the resource shows changed
 * (the rest) it undoes as usual. A mapper whose failure left nothing need not use it: the engine
 * reads the resource back after any failure and undoes what it sees.
 */
export class PartlyApplied extends Error {
  constructor(
    /** The cloud's error. */
    readonly cause: unknown,
    readonly left: string,
  ) {
    super((cause as Error)?.message ?? String(cause));
    this.name = (cause as Error)?.name ?? 'Error';
  }
}

/** Whether `err` is a PartlyApplied (by shape too: a module loaded by another copy of this file throws its own class). */
export function isPartlyApplied(err: unknown): err is PartlyApplied {
  return err instanceof PartlyApplied || (!!err && typeof err === 'object' && typeof (err as PartlyApplied).left === 'string' && 'cause' in err);
}
