import { Client } from 'pg';

/** The error a statement raises, with what psql would show: SQLSTATE, message, detail, hint. */
export async function sqlError(c: Client, sql: string, params: unknown[] = []) {
  try {
    await c.query(sql, params);
  } catch (err) {
    const e = err as { code: string; message: string; detail?: string; hint?: string };
    return { code: e.code, message: e.message, detail: e.detail, hint: e.hint };
  }
  throw new Error(`expected an error from: ${sql}`);
}

export async function connect(url: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  await c.connect();
  return c;
}
