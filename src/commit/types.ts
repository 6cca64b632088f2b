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
   * Whether the row already matches the cloud. Default: every column the cloud view has, except
   * cloud columns, is equal (JSON-deep).
   */
  equals?(row: R, cloud: R): boolean;
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
