// The engine's tables in every managed database (schema iasql_engine, sql/user-database/000004.sql),
// as TypeORM entities: test/modules.schema.test.ts checks the SQL and these agree.
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';


@Entity({ name: 'iasql_module', schema: 'iasql_engine' })
export class IasqlModule {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'iasql_module_pkey' })
  name: string;

  @Column({ type: 'text' })
  version: string;

  @CreateDateColumn({ name: 'installed_at', type: 'timestamptz' })
  installedAt: Date;
}

@Entity({ name: 'iasql_dependencies', schema: 'iasql_engine' })
export class IasqlDependency {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'iasql_dependencies_pkey' })
  module: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'iasql_dependencies_pkey' })
  dependency: string;

  @ManyToOne(() => IasqlModule, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'module', foreignKeyConstraintName: 'iasql_dependencies_module_fkey' })
  moduleRow: IasqlModule;

  @ManyToOne(() => IasqlModule)
  @JoinColumn({ name: 'dependency', foreignKeyConstraintName: 'iasql_dependencies_dependency_fkey' })
  dependencyRow: IasqlModule;
}

@Entity({ name: 'iasql_tables', schema: 'iasql_engine' })
export class IasqlTable {
  @PrimaryColumn({ name: 'table_name', type: 'text', primaryKeyConstraintName: 'iasql_tables_pkey' })
  tableName: string;

  @Column({ type: 'text' })
  module: string;

  @ManyToOne(() => IasqlModule, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'module', foreignKeyConstraintName: 'iasql_tables_module_fkey' })
  moduleRow: IasqlModule;
}

@Entity({ name: 'iasql_rpc', schema: 'iasql_engine' })
@Index('iasql_rpc_start_date_idx', ['startDate'])
export class IasqlRpc {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'iasql_rpc_pkey' })
  opid: string;

  @Column({ name: 'module_name', type: 'text' })
  moduleName: string;

  @Column({ name: 'method_name', type: 'text' })
  methodName: string;

  @Column({ type: 'jsonb' })
  params: unknown;

  @Column({ type: 'text' })
  caller: string;

  @Column({ name: 'start_date', type: 'timestamptz' })
  startDate: Date;

  @Column({ name: 'end_date', type: 'timestamptz', nullable: true })
  endDate: Date | null;

  @Column({ type: 'jsonb', nullable: true })
  output: unknown;

  @Column({ type: 'text', nullable: true })
  err: string | null;
}

@Entity({ name: 'iasql_audit_log', schema: 'iasql_engine' })
@Index('iasql_audit_log_ts_idx', ['ts'])
export class IasqlAuditLog {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'iasql_audit_log_pkey' })
  id: string;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  ts: Date;

  @Column({ type: 'text', default: () => 'SESSION_USER' })
  user: string;

  @Column({ name: 'table_name', type: 'text' })
  tableName: string;

  @Column({ name: 'change_type', type: 'text' })
  changeType: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  change: unknown;

  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'transaction_id', type: 'bigint', default: () => 'txid_current()' })
  transactionId: string;

  @Column({ type: 'text', default: () => "'user'" })
  source: string;
}

@Entity({ name: 'iasql_change_set', schema: 'iasql_engine' })
@Check('iasql_change_set_status_check', `status IN ('open', 'committing', 'committed', 'failed', 'rolled_back')`)
export class IasqlChangeSet {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'iasql_change_set_pkey' })
  id: number;

  @Column({ type: 'text', default: () => "'open'" })
  status: string;

  @Column({ name: 'opened_at', type: 'timestamptz', default: () => 'now()' })
  openedAt: Date;

  @Column({ name: 'opened_by', type: 'text', default: () => 'SESSION_USER' })
  openedBy: string;

  @Column({ name: 'closed_at', type: 'timestamptz', nullable: true })
  closedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ name: 'from_audit_id', type: 'bigint' })
  fromAuditId: string;

  @Column({ name: 'to_audit_id', type: 'bigint', nullable: true })
  toAuditId: string | null;

  @Column({ type: 'jsonb', nullable: true })
  progress: unknown;

  @Column({ type: 'jsonb', nullable: true })
  result: unknown;
}

/** Every engine table's entity. */
export const ENGINE_ENTITIES = [IasqlModule, IasqlDependency, IasqlTable, IasqlRpc, IasqlAuditLog, IasqlChangeSet];
