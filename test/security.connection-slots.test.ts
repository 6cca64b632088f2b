import * as net from 'node:net';
import { serverUrl, withClient } from './support/engine';
import { waitFor } from './support/wait';

/**
 * Postgres counts a connection against max_connections from the moment it is accepted, before it
 * has said who it is, so the superuser's reserve does not help: a few hundred connections that
 * send a startup packet and then stall at the password step locked everyone out for as long as
 * authentication_timeout (60 s by default). The embedded Postgres (which the test run's server is
 * started with) ends them after 10 s.
 */

/** A v3 startup packet for `user` on `database`. */
function startupPacket(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, params]);
}

describe('a client that connects and never finishes authenticating', () => {
  test('is disconnected by the server after authentication_timeout (10 s), not after a minute', async () => {
    expect(await withClient(serverUrl(), async (c) => (await c.query('show authentication_timeout')).rows[0].authentication_timeout)).toBe('10s');
    const { hostname, port } = new URL(serverUrl());
    const socket = net.connect({ host: hostname, port: Number(port) });
    let closed = false;
    let asked = '';
    socket.on('data', (d: Buffer) => (asked ||= String.fromCharCode(d[0])));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      // The server answers with its password challenge (R: an authentication request), then waits.
      socket.write(startupPacket('postgres', 'postgres'));
      await waitFor('the password challenge', () => (asked ? true : undefined), 5000);
      expect(asked).toBe('R');
      await waitFor('the server to end the stalled connection', () => (closed ? true : undefined), 30_000);
    } finally {
      socket.destroy();
    }
  });
});
