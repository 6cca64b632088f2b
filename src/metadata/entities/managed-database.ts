import { Column, CreateDateColumn, Entity, PrimaryColumn, Unique, UpdateDateColumn } from 'typeorm';

export type ManagedDatabaseStatus = 'creating' | 'ready' | 'dropping';

/** One row per database the engine manages on the Postgres server. */
@Entity({ name: 'managed_database' })
@Unique('UQ_managed_database_role_name', ['roleName'])
@Unique('UQ_managed_database_engine_role', ['engineRole'])
@Unique('UQ_managed_database_queue_role', ['queueRole'])
export class ManagedDatabase {
  @PrimaryColumn({ type: 'varchar', length: 63, primaryKeyConstraintName: 'PK_managed_database' })
  name: string;

  /** The tenant's login role; its password is never stored. */
  @Column({ name: 'role_name', type: 'varchar', length: 63 })
  roleName: string;

  /**
   * The role that owns the database and every engine object in it; the engine works there only as
   * this role. Null: a database made by an earlier engine (tenant-owned), which is not served.
   */
  @Column({ name: 'engine_role', type: 'varchar', length: 63, nullable: true })
  engineRole: string | null;

  @Column({ name: 'engine_password', type: 'text', nullable: true, select: false })
  enginePassword: string | null;

  /** The role the database's rpc functions enqueue calls with (over dblink); it reaches this database's calls only. */
  @Column({ name: 'queue_role', type: 'varchar', length: 63, nullable: true })
  queueRole: string | null;

  @Column({ name: 'queue_password', type: 'text', nullable: true, select: false })
  queuePassword: string | null;

  @Column({ type: 'varchar', length: 16 })
  status: ManagedDatabaseStatus;

  /** Version of the engine whose SQL the database was last brought up to. */
  @Column({ name: 'engine_version', type: 'varchar', length: 32 })
  engineVersion: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
