import * as fs from 'node:fs';

/**
 * The ports the kernel hands to outgoing connections (Linux: net.ipv4.ip_local_port_range,
 * 32768-60999 by default). A listening port chosen in it can be taken at any moment by one of the
 * machine's own outgoing connections: a first start with a random IASQL_LOCAL_CLOUD_PORT there
 * failed with "already in use". Undefined where the host does not say (not Linux).
 */
export function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] | undefined {
  try {
    const [low, high] = fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) && low <= high ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What to add to a message about `port`: that it lies in the ephemeral range, and where to choose
 * instead. '' when it does not, or when the range is unknown (null).
 */
export function ephemeralAdvice(port: number, range: [number, number] | null = ephemeralRange() ?? null): string {
  if (!range || port === 0 || port < range[0] || port > range[1]) return '';
  return ` (${port} is in this machine's ephemeral range ${range[0]}-${range[1]}, where the kernel picks ports for outgoing connections, so it can be taken at any time: choose a port below ${range[0]}, e.g. the default)`;
}
