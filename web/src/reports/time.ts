// RFC 3339 timestamps compared exactly: Date.parse keeps only milliseconds, and two
// status changes of one report can be microseconds apart.

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

interface Instant {
  seconds: number; // whole seconds since the epoch, in milliseconds
  fraction: string; // nine digits of nanoseconds
}

function toInstant(timestamp: string): Instant | null {
  const match = RFC3339.exec(timestamp);
  if (match) {
    const [, date, time, fraction = "", zone] = match;
    const seconds = Date.parse(`${date}T${time}${zone === "z" ? "Z" : zone}`);
    if (Number.isNaN(seconds)) return null;
    return { seconds, fraction: fraction.padEnd(9, "0").slice(0, 9) };
  }
  const ms = Date.parse(timestamp);
  if (Number.isNaN(ms)) return null;
  const whole = Math.floor(ms / 1000) * 1000;
  return { seconds: whole, fraction: String((ms - whole) * 1_000_000).padStart(9, "0") };
}

/** Negative, zero or positive as `a` is before, at the same time as, or after `b`.
 *  A timestamp that cannot be read compares equal to anything. */
export function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  const x = toInstant(a);
  const y = toInstant(b);
  if (!x || !y) return 0;
  if (x.seconds !== y.seconds) return x.seconds < y.seconds ? -1 : 1;
  if (x.fraction === y.fraction) return 0;
  return x.fraction < y.fraction ? -1 : 1;
}
