import { Column, CreateDateColumn, Entity, PrimaryColumn, Unique, UpdateDateColumn } from 'typeorm';

export type ManagedDatabaseStatus = 'creating' | 'ready' | 'dropping';

/** One row per database the engine manages on the Postgres server. */
@Entity({ name: 'managed_database' })
@Unique('UQ_managed_database_role_name', ['roleName'])
export class ManagedDatabase {
  @PrimaryColumn({ type: 'varchar', length: 63, primaryKeyConstraintName: 'PK_managed_database' })
  name: string;

  /** The login role that owns the database; its password is never stored. */
  @Column({ name: 'role_name', type: 'varchar', length: 63 })
  roleName: string;

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
