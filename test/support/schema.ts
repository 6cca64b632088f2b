import { DataSource } from 'typeorm';

/** The SQL TypeORM would run to make the database match the DataSource's entities (none: they match). */
export async function pendingSchemaChanges(ds: DataSource): Promise<string[]> {
  await ds.initialize();
  try {
    return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  } finally {
    await ds.destroy();
  }
}
