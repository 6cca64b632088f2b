import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { AwsRegion } from '../../aws_account/0.1.0/entities';

@Entity('dynamo_table')
@Unique('dynamo_table_table_name_region_key', ['tableName', 'region'])
export class DynamoTable {
  @PrimaryGeneratedColumn({ primaryKeyConstraintName: 'dynamo_table_pkey' })
  id: number;

  @Column({ name: 'table_name', type: 'text' })
  tableName: string;

  @Column({ name: 'table_class', type: 'text', default: 'STANDARD' })
  tableClass: string;

  @Column({ type: 'json', default: () => `'"PAY_PER_REQUEST"'` })
  throughput: unknown;

  @Column({ name: 'table_id', type: 'text', nullable: true })
  tableId: string | null;

  @Column({ name: 'primary_key', type: 'json' })
  primaryKey: Record<string, 'S' | 'N' | 'B'>;

  @Column({ name: 'created_at', type: 'timestamptz', nullable: true })
  createdAt: Date | null;

  @Column({ type: 'text', default: () => 'public.default_aws_region()' })
  region: string;

  @ManyToOne(() => AwsRegion, { nullable: false })
  @JoinColumn({ name: 'region', foreignKeyConstraintName: 'dynamo_table_region_fkey' })
  regionRow: AwsRegion;
}
