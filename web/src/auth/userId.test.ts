import { describe, expect, it } from "vitest";
import {
  checkUserId,
  clearUserId,
  EMPTY_USER_ID,
  generateUserId,
  loadUserId,
  MALFORMED_USER_ID,
  normalizeUserId,
  saveUserId,
  STORAGE_KEY,
} from "./userId";

const ID = "6f1c3b1e-8a43-4a3f-9a66-0c7f2f8f5b10";
const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function memoryStore() {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
}

const brokenStore = {
  getItem: (): string | null => {
    throw new Error("SecurityError");
  },
  setItem: () => {
    throw new Error("QuotaExceededError");
  },
  removeItem: () => {
    throw new Error("SecurityError");
  },
};

describe("normalizeUserId", () => {
  it("accepts a UUID, trimmed and in lower case", () => {
    expect(normalizeUserId(ID)).toBe(ID);
    expect(normalizeUserId(`  ${ID.toUpperCase()}\n`)).toBe(ID);
  });

  it("rejects anything that is not a UUID", () => {
    for (const bad of ["", "demo", ID.slice(0, -1), `${ID}0`, ID.replace(/-/g, ""), `{${ID}}`, ID.replace("6", "g")]) {
      expect(normalizeUserId(bad), bad).toBeNull();
    }
  });
});

describe("checkUserId", () => {
  it("asks for an id when the field is empty or blank", () => {
    for (const blank of ["", " ", "\t\n"]) {
      expect(checkUserId(blank), JSON.stringify(blank)).toEqual({ ok: false, problem: "empty", message: EMPTY_USER_ID });
    }
  });

  it("says what a user id looks like when the field holds something else", () => {
    for (const bad of ["demo", ID.slice(0, -1), ` ${ID}x `]) {
      expect(checkUserId(bad), bad).toEqual({ ok: false, problem: "malformed", message: MALFORMED_USER_ID });
    }
    expect(MALFORMED_USER_ID).not.toBe(EMPTY_USER_ID);
    expect(MALFORMED_USER_ID).toMatch(/UUID/);
    expect(EMPTY_USER_ID).not.toMatch(/UUID/);
  });

  it("gives the canonical id of a valid one", () => {
    expect(checkUserId(` ${ID.toUpperCase()} `)).toEqual({ ok: true, userId: ID });
  });
});

describe("generateUserId", () => {
  it("uses crypto.randomUUID where there is one", () => {
    expect(generateUserId({ randomUUID: () => ID, getRandomValues: (a) => a })).toBe(ID);
  });

  it("builds a version 4 UUID from random bytes where there is not", () => {
    let seed = 0;
    const random = {
      getRandomValues: (array: Uint8Array<ArrayBuffer>) => {
        for (let i = 0; i < array.length; i++) array[i] = (seed++ * 37 + 11) & 0xff;
        return array;
      },
    };
    const a = generateUserId(random);
    const b = generateUserId(random);
    expect(a).toMatch(V4);
    expect(b).toMatch(V4);
    expect(a).not.toBe(b);
    expect(normalizeUserId(a)).toBe(a);
  });

  it("gives a valid, fresh id from the platform's crypto", () => {
    const a = generateUserId();
    expect(normalizeUserId(a)).toBe(a);
    expect(generateUserId()).not.toBe(a);
  });
});

describe("remembering the user id", () => {
  it("saves, loads and clears it", () => {
    const store = memoryStore();
    expect(loadUserId(store)).toBeNull();
    expect(saveUserId(ID, store)).toBe(true);
    expect(store.items.get(STORAGE_KEY)).toBe(ID);
    expect(loadUserId(store)).toBe(ID);
    clearUserId(store);
    expect(loadUserId(store)).toBeNull();
  });

  it("ignores a stored value that is not a UUID", () => {
    const store = memoryStore();
    store.setItem(STORAGE_KEY, "not-a-uuid");
    expect(loadUserId(store)).toBeNull();
  });

  it("survives a browser that refuses storage", () => {
    expect(loadUserId(brokenStore)).toBeNull();
    expect(saveUserId(ID, brokenStore)).toBe(false);
    expect(() => clearUserId(brokenStore)).not.toThrow();
    expect(loadUserId(null)).toBeNull();
    expect(saveUserId(ID, null)).toBe(false);
  });
});
