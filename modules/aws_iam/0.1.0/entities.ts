import { Column, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

@Entity('iam_role')
@Unique('iam_role_role_name_key', ['roleName'])
export class IamRole {
  @PrimaryGeneratedColumn({ primaryKeyConstraintName: 'iam_role_pkey' })
  id: number;

  @Column({ name: 'role_name', type: 'text' })
  roleName: string;

  @Column({ type: 'text', nullable: true })
  arn: string | null;

  @Column({ name: 'assume_role_policy_document', type: 'jsonb' })
  assumeRolePolicyDocument: Record<string, unknown>;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ name: 'attached_policies_arns', type: 'text', array: true, nullable: true })
  attachedPoliciesArns: string[] | null;
}
