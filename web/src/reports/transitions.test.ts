import { describe, expect, it } from "vitest";
import { canTransition, isFinal, nextStatuses, TRANSITIONS, transitionLabel } from "./transitions";
import { STATUSES, type Status } from "./types";

const VALID: ReadonlyArray<[Status, Status]> = [
  ["pending", "queued"],
  ["pending", "canceled"],
  ["queued", "processing"],
  ["queued", "canceled"],
  ["processing", "completed"],
  ["processing", "failed"],
  ["failed", "pending"],
  ["canceled", "pending"],
];

describe("transitions", () => {
  it("allows exactly the server's eight transitions", () => {
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        const expected = VALID.some(([a, b]) => a === from && b === to);
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(expected);
      }
    }
  });

  it("lists the next statuses of every status, and nothing else", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
    expect(nextStatuses("pending")).toEqual(["queued", "canceled"]);
    expect(nextStatuses("queued")).toEqual(["processing", "canceled"]);
    expect(nextStatuses("processing")).toEqual(["completed", "failed"]);
    expect(nextStatuses("failed")).toEqual(["pending"]);
    expect(nextStatuses("canceled")).toEqual(["pending"]);
    expect(nextStatuses("completed")).toEqual([]);
  });

  it("never allows staying in the same status", () => {
    for (const status of STATUSES) expect(canTransition(status, status)).toBe(false);
  });

  it("treats completed, and only completed, as final", () => {
    expect(STATUSES.filter(isFinal)).toEqual(["completed"]);
  });

  it("gives the buttons of one status distinct labels", () => {
    for (const from of STATUSES) {
      const labels = nextStatuses(from).map((to) => transitionLabel(from, to));
      expect(new Set(labels).size).toBe(labels.length);
      for (const label of labels) expect(label.length).toBeGreaterThan(0);
    }
    expect(transitionLabel("failed", "pending")).toBe("Retry");
    expect(transitionLabel("canceled", "pending")).toBe("Reopen");
  });
});
