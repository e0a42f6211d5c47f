import { describe, expect, it, vi } from "vitest";
import { formatChangeTime, formatFullTime, msUntilNextDay, shortId } from "./format";

// Dates are built in the local time zone, as the page shows them; the checks look for parts
// (a year, a month's name) rather than one language's exact wording.
const monthName = (date: Date) => new Intl.DateTimeFormat(undefined, { month: "short" }).format(date);

describe("formatChangeTime", () => {
  it("shows only the time for a change made today", () => {
    const today = new Date(2024, 4, 1, 18, 0, 0);
    const text = formatChangeTime(new Date(2024, 4, 1, 9, 5, 7).toISOString(), today);
    expect(text).toMatch(/05/);
    expect(text).toMatch(/07/);
    expect(text).not.toMatch(/2024/);
    expect(text).not.toContain(monthName(today));
  });

  it("adds the day and month for a change made on another day of this year", () => {
    const today = new Date(2024, 6, 3, 8, 0, 0);
    const changed = new Date(2024, 4, 1, 9, 5, 7);
    const text = formatChangeTime(changed.toISOString(), today);
    expect(text).toContain(monthName(changed));
    expect(text).toMatch(/\b1\b/);
    expect(text).toMatch(/05/);
    expect(text).not.toMatch(/2024/);
  });

  it("adds the date for yesterday, even a few minutes ago", () => {
    const today = new Date(2024, 4, 2, 0, 1, 0);
    expect(formatChangeTime(new Date(2024, 4, 1, 23, 58, 0).toISOString(), today)).toContain(monthName(today));
  });

  it("adds the year for a change made in another year", () => {
    const today = new Date(2025, 0, 1, 0, 0, 1);
    const text = formatChangeTime(new Date(2024, 11, 31, 23, 59, 0).toISOString(), today);
    expect(text).toMatch(/2024/);
    expect(text).toMatch(/31/);
  });

  it("reads RFC 3339 times with fractions and offsets", () => {
    const today = new Date("2024-05-01T12:00:00Z");
    const text = formatChangeTime("2024-05-01T12:00:00.123456789+00:00", today);
    expect(text).not.toBe("2024-05-01T12:00:00.123456789+00:00");
  });

  it("leaves an unreadable time as it came", () => {
    expect(formatChangeTime("soon")).toBe("soon");
    expect(formatFullTime("soon")).toBe("soon");
  });
});

describe("formatFullTime", () => {
  it("gives the weekday, the date with its year, the time to the second and the zone", () => {
    const changed = new Date(2024, 4, 1, 9, 5, 7);
    const text = formatFullTime(changed.toISOString());
    expect(text).toContain(new Intl.DateTimeFormat(undefined, { weekday: "long" }).format(changed));
    expect(text).toMatch(/2024/);
    expect(text).toMatch(/05/);
    expect(text).toMatch(/07/);
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(changed)
      .find((part) => part.type === "timeZoneName")?.value;
    expect(zone).toBeTruthy();
    expect(text).toContain(zone);
  });
});

describe("msUntilNextDay", () => {
  it("counts to the next local midnight", () => {
    expect(msUntilNextDay(new Date(2024, 4, 1, 23, 59, 50))).toBe(10_000);
    expect(msUntilNextDay(new Date(2024, 4, 1, 0, 0, 0))).toBe(
      new Date(2024, 4, 2).getTime() - new Date(2024, 4, 1).getTime(),
    );
  });

  it("knows a day with a daylight saving change is not 24 hours long", () => {
    vi.stubEnv("TZ", "Europe/Berlin"); // clocks went forward on 31 March 2024 and back on 27 October
    try {
      expect(msUntilNextDay(new Date(2024, 2, 31, 0, 0, 0))).toBe(23 * 3_600_000);
      expect(msUntilNextDay(new Date(2024, 9, 27, 0, 0, 0))).toBe(25 * 3_600_000);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("crosses months and years", () => {
    expect(msUntilNextDay(new Date(2024, 11, 31, 23, 0, 0))).toBe(3_600_000);
    expect(msUntilNextDay(new Date(2024, 1, 29, 12, 0, 0))).toBe(new Date(2024, 2, 1).getTime() - new Date(2024, 1, 29, 12).getTime());
  });
});

describe("shortId", () => {
  it("shortens an id to its first block", () => {
    expect(shortId("3f0697f0-0e48-4268-ae84-594f8f70ff3a")).toBe("3f0697f0");
    expect(shortId("plain")).toBe("plain");
  });
});
