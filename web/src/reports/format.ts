// How times and ids are written on the page.

const sameDayFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const otherDayFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A short time for the table: the time alone today, date and time otherwise. */
export function formatChangeTime(timestamp: string, now: Date = new Date()): string {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  return sameDay(date, now) ? sameDayFormat.format(date) : otherDayFormat.format(date);
}

/** The full date and time, for a tooltip. */
export function formatFullTime(timestamp: string): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : fullFormat.format(date);
}

/** The first block of a UUID: enough to tell reports apart in messages. */
export function shortId(id: string): string {
  return id.split("-")[0] ?? id;
}
