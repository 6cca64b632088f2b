import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ephemeralAdvice, ephemeralRange } from '../src/ports';

// No engine: what the engine says of a port in the range the kernel hands to outgoing connections.

test('the range is read from the kernel setting; unreadable or nonsense is no range', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-ports-'));
  try {
    const file = path.join(dir, 'ip_local_port_range');
    fs.writeFileSync(file, '32768\t60999\n');
    expect(ephemeralRange(file)).toEqual([32768, 60999]);
    fs.writeFileSync(file, 'nonsense\n');
    expect(ephemeralRange(file)).toBeUndefined();
    expect(ephemeralRange(path.join(dir, 'missing'))).toBeUndefined();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a port inside the range gets advice naming the range and what to choose; others, 0 and an unknown range get none', () => {
  const range: [number, number] = [32768, 60999];
  expect(ephemeralAdvice(45000, range)).toBe(
    ' (45000 is in this machine\'s ephemeral range 32768-60999, where the kernel picks ports for outgoing connections, so it can be taken at any time: choose a port below 32768, e.g. the default)',
  );
  expect(ephemeralAdvice(32768, range)).not.toBe('');
  expect(ephemeralAdvice(60999, range)).not.toBe('');
  for (const port of [4566, 8088, 5433, 32767, 61000, 0]) expect(ephemeralAdvice(port, range)).toBe('');
  expect(ephemeralAdvice(45000, null)).toBe('');
});
