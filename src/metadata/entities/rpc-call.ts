import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type RpcCallStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** One rpc call in the queue: who asked what, and how it ended. Written by the SQL entry point and the worker. */
@Entity({ name: 'rpc_call' })
@Index('IDX_rpc_call_created_at', ['createdAt'])
export class RpcCall {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'PK_rpc_call' })
  id: string;

  @Column({ type: 'varchar', length: 63 })
  database: string;

  @Column({ type: 'text' })
  module: string;

  @Column({ type: 'text' })
  method: string;

  @Column({ type: 'jsonb' })
  args: Record<string, unknown>;

  @Column({ type: 'text' })
  caller: string;

  @Column({ type: 'varchar', length: 16, default: 'queued' })
  status: RpcCallStatus;

  @Column({ type: 'jsonb', nullable: true })
  result: unknown;

  @Column({ type: 'jsonb', nullable: true })
  error: { sqlstate: string; message: string; detail?: string; hint?: string } | null;

  @Column({ name: 'timeout_ms', type: 'integer' })
  timeoutMs: number;

  /** Backend pid of the worker's connection to the calling database while the call runs. */
  @Column({ name: 'worker_pid', type: 'integer', nullable: true })
  workerPid: number | null;

  /**
   * Backend pid of the LISTEN connection of the engine that keeps this queued call waiting for its
   * database's share: while it lives, iasql_rpc_status adds no graphile job for the call.
   */
  @Column({ name: 'parked_by', type: 'integer', nullable: true })
  parkedBy: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  /** What a long call is doing now (ctx.progress); its caller sees it as NOTICEs. */
  @Column({ type: 'text', nullable: true })
  progress: string | null;
}
