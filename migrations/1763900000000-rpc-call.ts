import { MigrationInterface, QueryRunner } from 'typeorm';

export class RpcCall1763900000000 implements MigrationInterface {
  name = 'RpcCall1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "rpc_call" (
        "id" BIGSERIAL NOT NULL,
        "database" character varying(63) NOT NULL,
        "module" text NOT NULL,
        "method" text NOT NULL,
        "args" jsonb NOT NULL,
        "caller" text NOT NULL,
        "status" character varying(16) NOT NULL DEFAULT 'queued',
        "result" jsonb,
        "error" jsonb,
        "timeout_ms" integer NOT NULL,
        "worker_pid" integer,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "PK_rpc_call" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "IDX_rpc_call_created_at" ON "rpc_call" ("created_at")`);
    await q.query(`
      CREATE TABLE "rpc_credential" (
        "role" text NOT NULL,
        "password" text NOT NULL,
        CONSTRAINT "PK_rpc_credential" PRIMARY KEY ("role")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "rpc_credential"`);
    await q.query(`DROP TABLE "rpc_call"`);
  }
}
