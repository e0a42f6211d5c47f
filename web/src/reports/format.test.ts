import { describe, expect, it } from "vitest";
import { formatChangeTime, formatFullTime, shortId } from "./format";

describe("format", () => {
  it("shows only the time for a change made today", () => {
    const now = new Date(2024, 4, 1, 18, 0, 0);
    const text = formatChangeTime(new Date(2024, 4, 1, 9, 5, 7).toISOString(), now);
    expect(text).toMatch(/05/);
    expect(text).toMatch(/07/);
    expect(text).not.toMatch(/2024/);
  });

  it("adds the date for a change made on another day", () => {
    const now = new Date(2024, 4, 3, 18, 0, 0);
    expect(formatChangeTime(new Date(2024, 4, 1, 9, 5, 7).toISOString(), now)).toMatch(/2024/);
  });

  it("leaves an unreadable time as it came", () => {
    expect(formatChangeTime("soon")).toBe("soon");
    expect(formatFullTime("soon")).toBe("soon");
  });

  it("shortens an id to its first block", () => {
    expect(shortId("3f0697f0-0e48-4268-ae84-594f8f70ff3a")).toBe("3f0697f0");
    expect(shortId("plain")).toBe("plain");
  });
});
