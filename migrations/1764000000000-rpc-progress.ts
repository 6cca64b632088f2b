import { MigrationInterface, QueryRunner } from 'typeorm';

/** What a long rpc call (a commit) is doing now, shown to its caller as NOTICEs. */
export class RpcProgress1764000000000 implements MigrationInterface {
  name = 'RpcProgress1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rpc_call" ADD "progress" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rpc_call" DROP COLUMN "progress"`);
  }
}
