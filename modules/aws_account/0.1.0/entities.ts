import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

@Entity('aws_credentials')
export class AwsCredentials {
  @PrimaryGeneratedColumn({ primaryKeyConstraintName: 'aws_credentials_pkey' })
  id: number;

  @Column({ name: 'access_key_id', type: 'text' })
  accessKeyId: string;

  @Column({ name: 'secret_access_key', type: 'text' })
  secretAccessKey: string;

  @Column({ name: 'session_token', type: 'text', nullable: true })
  sessionToken: string | null;

  @Column({ type: 'text', nullable: true })
  endpoint: string | null;
}

@Entity('aws_regions')
export class AwsRegion {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'aws_regions_pkey' })
  region: string;

  @Column({ name: 'is_default', type: 'boolean', default: false })
  isDefault: boolean;

  @Column({ name: 'is_enabled', type: 'boolean', default: true })
  isEnabled: boolean;
}
