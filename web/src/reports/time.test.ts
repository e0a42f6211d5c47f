import { describe, expect, it } from "vitest";
import { compareTimestamps } from "./time";

describe("compareTimestamps", () => {
  it("orders whole seconds", () => {
    expect(compareTimestamps("2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z")).toBeLessThan(0);
    expect(compareTimestamps("2024-05-01T10:00:01Z", "2024-05-01T10:00:00Z")).toBeGreaterThan(0);
    expect(compareTimestamps("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z")).toBe(0);
  });

  it("orders fractions finer than a millisecond", () => {
    expect(compareTimestamps("2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.123457Z")).toBeLessThan(0);
    expect(compareTimestamps("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.12345678Z")).toBeGreaterThan(0);
  });

  it("treats fractions of different lengths by value", () => {
    expect(compareTimestamps("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500000Z")).toBe(0);
    expect(compareTimestamps("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.05Z")).toBeGreaterThan(0);
    expect(compareTimestamps("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000001Z")).toBeLessThan(0);
  });

  it("honours time zone offsets", () => {
    expect(compareTimestamps("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z")).toBe(0);
    expect(compareTimestamps("2024-05-01T12:00:00+02:00", "2024-05-01T10:30:00Z")).toBeLessThan(0);
    expect(compareTimestamps("2024-05-01t10:00:00z", "2024-05-01T09:59:59Z")).toBeGreaterThan(0);
  });

  it("compares across a second boundary regardless of the fraction", () => {
    expect(compareTimestamps("2024-05-01T10:00:00.999999Z", "2024-05-01T10:00:01.000001Z")).toBeLessThan(0);
  });

  it("treats an unreadable timestamp as equal to anything", () => {
    expect(compareTimestamps("not a time", "2024-05-01T10:00:00Z")).toBe(0);
    expect(compareTimestamps("2024-05-01T10:00:00Z", "")).toBe(0);
  });
});
