import { statusLabel } from "../reports/labels";
import type { Status } from "../reports/types";

/** A distinct shape per status, so the badge does not rely on colour alone. */
function StatusIcon({ status }: { status: Status }) {
  const common = {
    className: "badge__icon",
    width: 14,
    height: 14,
    viewBox: "0 0 16 16",
    "aria-hidden": true,
    focusable: false,
    fill: "none",
    stroke: "currentColor",
    strokeWidth: 2,
    strokeLinecap: "round" as const,
    strokeLinejoin: "round" as const,
  };
  switch (status) {
    case "pending": // a clock
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.25" />
          <path d="M8 4.5V8l2.5 1.5" />
        </svg>
      );
    case "queued": // a queue of lines
      return (
        <svg {...common}>
          <path d="M3 4.5h10M3 8h10M3 11.5h6" />
        </svg>
      );
    case "processing": // a half-filled circle
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.25" />
          <path d="M8 1.75a6.25 6.25 0 0 1 0 12.5z" fill="currentColor" stroke="none" />
        </svg>
      );
    case "canceled": // a circle struck through
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.25" />
          <path d="M3.6 12.4l8.8-8.8" />
        </svg>
      );
    case "failed": // a cross
      return (
        <svg {...common} strokeWidth={2.5}>
          <path d="M4 4l8 8M12 4l-8 8" />
        </svg>
      );
    case "completed": // a tick
      return (
        <svg {...common} strokeWidth={2.5}>
          <path d="M3 8.5l3.25 3.25L13 5" />
        </svg>
      );
  }
}

export function StatusBadge({ status }: { status: Status }) {
  return (
    <span className={`badge badge--${status}`} data-status={status}>
      <StatusIcon status={status} />
      <span className="badge__label">{statusLabel(status)}</span>
    </span>
  );
}
