import { MigrationInterface, QueryRunner } from 'typeorm';

export class ManagedDatabase1763700000000 implements MigrationInterface {
  name = 'ManagedDatabase1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "managed_database" (
        "name" character varying(63) NOT NULL,
        "role_name" character varying(63) NOT NULL,
        "status" character varying(16) NOT NULL,
        "engine_version" character varying(32) NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "UQ_managed_database_role_name" UNIQUE ("role_name"),
        CONSTRAINT "PK_managed_database" PRIMARY KEY ("name")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "managed_database"`);
  }
}
