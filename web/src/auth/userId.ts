// The signed-in user is just a UUID kept in localStorage; there are no passwords in v4.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const STORAGE_KEY = "ssehub.userId";
export const EMPTY_USER_ID = "Enter your user ID, or generate a new one.";
export const MALFORMED_USER_ID =
  "That is not a valid user ID: it must be a UUID, such as 123e4567-e89b-42d3-a456-426614174000.";

/** The canonical form of a user id (trimmed, lower case), or null when it is not a UUID. */
export function normalizeUserId(input: string): string | null {
  const candidate = input.trim().toLowerCase();
  return UUID.test(candidate) ? candidate : null;
}

export type UserIdCheck = { ok: true; userId: string } | { ok: false; problem: "empty" | "malformed"; message: string };

/** What the sign-in form makes of its field: the user id, or what to tell the user instead. */
export function checkUserId(input: string): UserIdCheck {
  if (input.trim() === "") return { ok: false, problem: "empty", message: EMPTY_USER_ID };
  const userId = normalizeUserId(input);
  return userId ? { ok: true, userId } : { ok: false, problem: "malformed", message: MALFORMED_USER_ID };
}

interface RandomSource {
  randomUUID?: () => string;
  getRandomValues(array: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer>;
}

/** A fresh random (version 4) UUID. crypto.randomUUID exists only in secure contexts (https,
 *  localhost); a page served over plain http elsewhere builds one from getRandomValues. */
export function generateUserId(random: RandomSource = globalThis.crypto): string {
  if (typeof random.randomUUID === "function") return random.randomUUID();
  const bytes = random.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

type KeyValueStore = Pick<Storage, "getItem" | "setItem" | "removeItem">;

function defaultStore(): KeyValueStore | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled by the browser's privacy settings
  }
}

export function loadUserId(store: KeyValueStore | null = defaultStore()): string | null {
  try {
    const saved = store?.getItem(STORAGE_KEY);
    return saved ? normalizeUserId(saved) : null;
  } catch {
    return null;
  }
}

/** Remembers the user id; returns false when the browser would not store it (the sign-in
 *  still works for this tab). */
export function saveUserId(userId: string, store: KeyValueStore | null = defaultStore()): boolean {
  try {
    if (!store) return false;
    store.setItem(STORAGE_KEY, userId);
    return true;
  } catch {
    return false;
  }
}

export function clearUserId(store: KeyValueStore | null = defaultStore()): void {
  try {
    store?.removeItem(STORAGE_KEY);
  } catch {
    // nothing was stored
  }
}
