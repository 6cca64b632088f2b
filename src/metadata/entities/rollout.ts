import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type RolloutStrategy = 'all-at-once' | 'one-at-a-time';
export type RolloutStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';
export type RolloutDatabaseStatus = 'pending' | 'upgrading' | 'upgraded' | 'failed' | 'skipped' | 'interrupted';

export interface RolloutDatabase {
  name: string;
  status: RolloutDatabaseStatus;
  /** Module moves made, e.g. "fixture_notes 0.2.0 -> 0.3.0". */
  changes: string[];
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** An upgrade of every managed database to the latest module versions, with per-database progress. */
@Entity({ name: 'rollout' })
export class Rollout {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'PK_rollout' })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  strategy: RolloutStrategy;

  @Column({ type: 'varchar', length: 16 })
  status: RolloutStatus;

  @Column({ type: 'jsonb' })
  databases: RolloutDatabase[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
