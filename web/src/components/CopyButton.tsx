import { useEffect, useRef, useState } from "react";
import { copyText } from "../clipboard/copy";

type Outcome = "copied" | "failed";

const FEEDBACK: Record<Outcome, string> = { copied: "Copied", failed: "Copy failed" };
const FEEDBACK_MS = 2_000;

/** A button that copies `text`, named by `label` for assistive technology, which then says
 *  "Copied" for a moment, both on screen and to screen readers (a status region). */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(timer.current), []);

  const copy = async () => {
    const copied = await copyText(text);
    setOutcome(copied ? "copied" : "failed");
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setOutcome(null), FEEDBACK_MS);
  };

  return (
    <span className="copy">
      <button
        type="button"
        className="copy__button"
        aria-label={label}
        title={label}
        data-outcome={outcome ?? undefined}
        onClick={() => void copy()}
      >
        {outcome === "copied" ? <TickIcon /> : <CopyIcon />}
      </button>
      <span className={`copy__feedback${outcome === "failed" ? " copy__feedback--failed" : ""}`} role="status">
        {outcome ? FEEDBACK[outcome] : ""}
      </span>
    </span>
  );
}

function CopyIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round">
      <rect x="5.5" y="5.5" width="8" height="8" rx="1.5" />
      <path d="M10.5 5.5V4a1.5 1.5 0 0 0-1.5-1.5H4A1.5 1.5 0 0 0 2.5 4v5A1.5 1.5 0 0 0 4 10.5h1.5" />
    </svg>
  );
}

function TickIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round">
      <path d="M3 8.5l3.25 3.25L13 5" />
    </svg>
  );
}
