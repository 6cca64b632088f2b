import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

@Entity('iasql_module')
export class IasqlModule {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'iasql_module_pkey' })
  name: string;

  @Column({ type: 'text' })
  version: string;

  @CreateDateColumn({ name: 'installed_at', type: 'timestamptz' })
  installedAt: Date;
}

@Entity('iasql_dependencies')
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

@Entity('iasql_tables')
export class IasqlTable {
  @PrimaryColumn({ name: 'table_name', type: 'text', primaryKeyConstraintName: 'iasql_tables_pkey' })
  tableName: string;

  @Column({ type: 'text' })
  module: string;

  @ManyToOne(() => IasqlModule, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'module', foreignKeyConstraintName: 'iasql_tables_module_fkey' })
  moduleRow: IasqlModule;
}

@Entity('iasql_rpc')
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
