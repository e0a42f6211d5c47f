// How times and ids are written on the page. Times are shown in the browser's time zone and
// language; "today" is the browser's local day.

const todayFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const thisYearFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const otherYearFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A short time for the table: the time alone today; the date and time on another day, with
 *  the year when it is not this year. `today` is any moment of the current day. */
export function formatChangeTime(timestamp: string, today: Date = new Date()): string {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  if (sameDay(date, today)) return todayFormat.format(date);
  return date.getFullYear() === today.getFullYear() ? thisYearFormat.format(date) : otherYearFormat.format(date);
}

/** The full date and time with the time zone, for a tooltip. */
export function formatFullTime(timestamp: string): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : fullFormat.format(date);
}

/** Milliseconds from `now` to the next local midnight, when "today" changes: not always 24
 *  hours apart, since a day with a daylight saving change is 23 or 25 hours long. */
export function msUntilNextDay(now: Date): number {
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  return next.getTime() - now.getTime();
}

/** The first block of a UUID: enough to tell reports apart on the page and in messages. */
export function shortId(id: string): string {
  return id.split("-")[0] ?? id;
}
