// The errors shown above the table, newest last. An error that only says the server could not
// be reached is stale once the live stream is connected again, so it goes by itself then; any
// other (a change the server refused, say) stays until dismissed.

export interface Notice {
  id: number;
  title: string;
  detail: string;
  /** No answer came: the network or the server was down. */
  unreachable: boolean;
}

export const MAX_NOTICES = 3;

/** The list with `notice` added, keeping the newest MAX_NOTICES. */
export function addNotice(list: readonly Notice[], notice: Notice): readonly Notice[] {
  return [...list.slice(-(MAX_NOTICES - 1)), notice];
}

/** The list without the could-not-reach errors; the same list when it has none. */
export function withoutUnreachable(list: readonly Notice[]): readonly Notice[] {
  return list.some((notice) => notice.unreachable) ? list.filter((notice) => !notice.unreachable) : list;
}

export function withoutNotice(list: readonly Notice[], id: number): readonly Notice[] {
  return list.filter((notice) => notice.id !== id);
}
