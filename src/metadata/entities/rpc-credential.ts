import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The password of the role tenant databases enqueue rpc calls with. That role may only execute
 * the queue functions; the password is also in each managed database's iasql_internal.rpc_config,
 * which tenants cannot read.
 */
@Entity({ name: 'rpc_credential' })
export class RpcCredential {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'PK_rpc_credential' })
  role: string;

  @Column({ type: 'text' })
  password: string;
}
