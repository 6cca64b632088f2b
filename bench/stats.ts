function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new Error('no samples');
  return [...values].sort((a, b) => a - b);
}

/** The middle sample (mean of the two middle ones for an even count): one slow outlier run does not move it. */
export function median(values: readonly number[]): number {
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank 95th percentile: with a handful of runs this is the slowest one, not an interpolated guess. */
export function p95(values: readonly number[]): number {
  const s = sorted(values);
  return s[Math.ceil(0.95 * s.length) - 1];
}
