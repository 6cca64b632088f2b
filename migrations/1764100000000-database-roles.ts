import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each managed database gets two more roles: its engine role (owns the database and everything the
 * engine made in it; the engine works there only as this role) and its queue role (may only enqueue
 * and follow the calls of this database). Their passwords are known only to the engine: this
 * database revokes CONNECT from PUBLIC. Rows without them were made by an earlier engine
 * (tenant-owned databases), which this engine refuses to serve (docs/security.md).
 */
export class DatabaseRoles1764100000000 implements MigrationInterface {
  name = 'DatabaseRoles1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "managed_database" ADD "engine_role" character varying(63)`);
    await q.query(`ALTER TABLE "managed_database" ADD "engine_password" text`);
    await q.query(`ALTER TABLE "managed_database" ADD "queue_role" character varying(63)`);
    await q.query(`ALTER TABLE "managed_database" ADD "queue_password" text`);
    await q.query(`ALTER TABLE "managed_database" ADD CONSTRAINT "UQ_managed_database_engine_role" UNIQUE ("engine_role")`);
    await q.query(`ALTER TABLE "managed_database" ADD CONSTRAINT "UQ_managed_database_queue_role" UNIQUE ("queue_role")`);
    // The one shared queue password of earlier engines: its role may now only learn that it is not served.
    await q.query(`DROP TABLE IF EXISTS "rpc_credential"`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "rpc_credential" ("role" text NOT NULL, "password" text NOT NULL, CONSTRAINT "PK_rpc_credential" PRIMARY KEY ("role"))`);
    await q.query(`ALTER TABLE "managed_database" DROP CONSTRAINT "UQ_managed_database_queue_role"`);
    await q.query(`ALTER TABLE "managed_database" DROP CONSTRAINT "UQ_managed_database_engine_role"`);
    await q.query(`ALTER TABLE "managed_database" DROP COLUMN "queue_password"`);
    await q.query(`ALTER TABLE "managed_database" DROP COLUMN "queue_role"`);
    await q.query(`ALTER TABLE "managed_database" DROP COLUMN "engine_password"`);
    await q.query(`ALTER TABLE "managed_database" DROP COLUMN "engine_role"`);
  }
}
