import { describe, expect, it } from "vitest";
import { copyText } from "./copy";

describe("copyText", () => {
  it("uses the Clipboard API where there is one", async () => {
    const written: string[] = [];
    const execCopy = () => {
      throw new Error("not needed");
    };
    expect(await copyText("abc", { writeText: async (text) => void written.push(text), execCopy })).toBe(true);
    expect(written).toEqual(["abc"]);
  });

  it("falls back to execCommand when the Clipboard API refuses", async () => {
    const copied: string[] = [];
    const env = {
      writeText: () => Promise.reject(new DOMException("Document is not focused.", "NotAllowedError")),
      execCopy: (text: string) => copied.push(text) > 0,
    };
    expect(await copyText("abc", env)).toBe(true);
    expect(copied).toEqual(["abc"]);
  });

  it("falls back to execCommand where there is no Clipboard API (plain http)", async () => {
    const copied: string[] = [];
    expect(await copyText("abc", { execCopy: (text) => copied.push(text) > 0 })).toBe(true);
    expect(copied).toEqual(["abc"]);
  });

  it("says so when nothing could copy", async () => {
    expect(await copyText("abc", { execCopy: () => false })).toBe(false);
    const refuse = () => {
      throw new Error("no");
    };
    expect(await copyText("abc", { writeText: () => Promise.reject(new Error("no")), execCopy: refuse })).toBe(false);
    expect(await copyText("abc", {})).toBe(false);
  });
});
