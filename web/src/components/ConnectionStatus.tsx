import type { ConnectionState, LiveRole } from "../live/stream";

const TEXT: Record<ConnectionState, { label: string; hint: string }> = {
  connecting: { label: "Connecting…", hint: "Opening the live update stream." },
  live: { label: "Live", hint: "Changes appear here as they happen." },
  reconnecting: { label: "Reconnecting…", hint: "The connection dropped; retrying. No change will be missed." },
  offline: { label: "Offline", hint: "The server cannot be reached; still retrying. The list refreshes when it is back." },
};

export function ConnectionStatus({ state, role }: { state: ConnectionState; role: LiveRole }) {
  const { label, hint } = TEXT[state];
  const shared = role === "follower" ? " Shared with another open tab." : "";
  return (
    <p className={`connection connection--${state}`} role="status" aria-live="polite" title={hint + shared}>
      <span className="connection__dot" aria-hidden="true" />
      <span className="connection__label">{label}</span>
      <span className="visually-hidden"> {hint}</span>
    </p>
  );
}
