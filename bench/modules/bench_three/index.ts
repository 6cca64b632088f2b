import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { defineModule } from '../../../src/modules/define';

// Benchmark module: three tables and a hook (install), then a version whose migration rewrites
// every row of one table (upgrade).
@Entity('bench_item')
class BenchItem {
  @PrimaryGeneratedColumn()
  id: number;
  @Column({ type: 'text' })
  name: string;
  @Column({ name: 'size_bytes', type: 'bigint' })
  sizeBytes: string;
}

@Entity('bench_item')
class BenchItemV2 {
  @PrimaryGeneratedColumn()
  id: number;
  @Column({ type: 'text' })
  name: string;
  @Column({ name: 'size_kb', type: 'integer' })
  sizeKb: number;
}

@Entity('bench_owner')
class BenchOwner {
  @PrimaryGeneratedColumn()
  id: number;
  @Column({ type: 'text' })
  email: string;
}

@Entity('bench_tag')
class BenchTag {
  @PrimaryGeneratedColumn()
  id: number;
  @Column({ type: 'text' })
  label: string;
}

export default defineModule({
  name: 'bench_three',
  description: 'Benchmark module: three tables and a hook',
  dir: __dirname,
  versions: [
    { version: '0.1.0', entities: [BenchItem, BenchOwner, BenchTag], sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' } },
    { version: '0.2.0', entities: [BenchItemV2, BenchOwner, BenchTag], sql: { afterInstall: '0.2.0/after_install.sql', beforeUninstall: '0.2.0/before_uninstall.sql' } },
  ],
});
