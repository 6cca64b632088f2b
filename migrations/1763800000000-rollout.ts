import { MigrationInterface, QueryRunner } from 'typeorm';

export class Rollout1763800000000 implements MigrationInterface {
  name = 'Rollout1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "rollout" (
        "id" uuid NOT NULL,
        "strategy" character varying(16) NOT NULL,
        "status" character varying(16) NOT NULL,
        "databases" jsonb NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "finished_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "PK_rollout" PRIMARY KEY ("id")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "rollout"`);
  }
}
