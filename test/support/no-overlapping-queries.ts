/**
 * Fails the test during which any pg client (the engine's or a test's) was given a query while it
 * was still running another. node-pg 8 queues such a query and warns "Calling client.query() when
 * the client is already executing a query" (only from the third at once, and not where a jest
 * test can see it); pg 9 refuses them. The engine never overlaps (src/postgres/serial-queries.ts).
 */
import { Client } from 'pg';

type Internals = { _activeQuery?: unknown; _queryQueue?: unknown[]; pipeline?: boolean };
const overlaps: Error[] = [];
const original = Client.prototype.query;
Client.prototype.query = function (this: Client & Internals, ...args: unknown[]) {
  if (!this.pipeline && (this._activeQuery || this._queryQueue?.length)) {
    overlaps.push(new Error(`a query was given to a pg client still running another: ${String((args[0] as { text?: string })?.text ?? args[0]).slice(0, 120)}`));
  }
  return (original as (...a: unknown[]) => unknown).apply(this, args);
} as typeof original;

function failIfAny(when: string) {
  const found = overlaps.splice(0);
  if (found.length) throw new Error(`${when}, ${found.length} overlapping pg ${found.length === 1 ? 'query' : 'queries'}; the first:\n${found[0].stack}`);
}

afterEach(() => failIfAny('during this test'));
afterAll(() => failIfAny('in this file, outside any test'));
