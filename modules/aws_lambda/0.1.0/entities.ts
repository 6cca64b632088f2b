import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { AwsRegion } from '../../aws_account/0.1.0/entities';
import { IamRole } from '../../aws_iam/0.1.0/entities';

@Entity('lambda_function')
@Unique('lambda_function_name_region_key', ['name', 'region'])
export class LambdaFunction {
  @PrimaryGeneratedColumn({ primaryKeyConstraintName: 'lambda_function_pkey' })
  id: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', nullable: true })
  arn: string | null;

  @Column({ type: 'text', default: '$LATEST' })
  version: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ name: 'zip_b64', type: 'text', nullable: true })
  zipB64: string | null;

  @Column({ type: 'text', nullable: true })
  handler: string | null;

  @Column({ type: 'text', nullable: true })
  runtime: string | null;

  @Column({ name: 'package_type', type: 'text', default: 'Zip' })
  packageType: string;

  @Column({ type: 'text', default: 'x86_64' })
  architecture: string;

  @Column({ name: 'memory_size', type: 'integer', default: 128 })
  memorySize: number;

  @Column({ type: 'integer', default: 3 })
  timeout: number;

  @Column({ type: 'jsonb', nullable: true })
  environment: Record<string, string> | null;

  @Column({ type: 'jsonb', nullable: true })
  tags: Record<string, string> | null;

  @Column({ type: 'text', default: () => 'public.default_aws_region()' })
  region: string;

  @ManyToOne(() => AwsRegion, { nullable: false })
  @JoinColumn({ name: 'region', foreignKeyConstraintName: 'lambda_function_region_fkey' })
  regionRow: AwsRegion;

  @Column({ name: 'role_name', type: 'text' })
  roleName: string;

  @ManyToOne(() => IamRole, { nullable: false })
  @JoinColumn({ name: 'role_name', referencedColumnName: 'roleName', foreignKeyConstraintName: 'lambda_function_role_name_fkey' })
  role: IamRole;
}
