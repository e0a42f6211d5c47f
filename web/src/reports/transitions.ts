import type { Status } from "./types";

/** The server's state machine: the only status changes PUT /v4/report accepts. */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  pending: ["queued", "canceled"],
  queued: ["processing", "canceled"],
  processing: ["completed", "failed"],
  failed: ["pending"],
  canceled: ["pending"],
  completed: [],
};

export function nextStatuses(from: Status): readonly Status[] {
  return TRANSITIONS[from];
}

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isFinal(status: Status): boolean {
  return TRANSITIONS[status].length === 0;
}

/** The words on the button that moves a report from `from` to `to`. */
export function transitionLabel(from: Status, to: Status): string {
  switch (to) {
    case "queued":
      return "Queue";
    case "processing":
      return "Start";
    case "completed":
      return "Complete";
    case "failed":
      return "Mark failed";
    case "canceled":
      return "Cancel";
    case "pending":
      return from === "failed" ? "Retry" : "Reopen";
  }
}
