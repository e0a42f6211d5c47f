import { describe, expect, it } from "vitest";
import { addNotice, MAX_NOTICES, withoutNotice, withoutUnreachable, type Notice } from "./notices";

const notice = (id: number, unreachable = false): Notice => ({ id, title: `title ${id}`, detail: `detail ${id}`, unreachable });

describe("notices", () => {
  it("keeps the newest few, oldest first", () => {
    let list: readonly Notice[] = [];
    for (let id = 1; id <= MAX_NOTICES + 2; id++) list = addNotice(list, notice(id));
    expect(list.map((n) => n.id)).toEqual([3, 4, 5]);
  });

  it("drops only the could-not-reach errors once the page is live again", () => {
    const list = [notice(1), notice(2, true), notice(3), notice(4, true)];
    expect(withoutUnreachable(list).map((n) => n.id)).toEqual([1, 3]);
  });

  it("returns the same list when there is nothing to drop", () => {
    const list = [notice(1), notice(2)];
    expect(withoutUnreachable(list)).toBe(list);
    const empty: readonly Notice[] = [];
    expect(withoutUnreachable(empty)).toBe(empty);
  });

  it("dismisses one by its id", () => {
    expect(withoutNotice([notice(1), notice(2, true), notice(3)], 2).map((n) => n.id)).toEqual([1, 3]);
  });
});
