import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which engine keeps a queued call waiting for its database's share (the backend pid of that
 * engine's LISTEN connection): while that backend lives, the call needs no graphile job.
 */
export class RpcParked1764200000000 implements MigrationInterface {
  name = 'RpcParked1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rpc_call" ADD "parked_by" integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rpc_call" DROP COLUMN "parked_by"`);
  }
}
