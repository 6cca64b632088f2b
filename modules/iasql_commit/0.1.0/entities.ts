import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

@Entity('iasql_audit_log')
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

@Entity('iasql_change_set')
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
