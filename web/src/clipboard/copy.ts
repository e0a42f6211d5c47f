// Copying text to the clipboard. The Clipboard API exists only in secure contexts (https,
// localhost) and may refuse (no permission, page not focused); the older execCommand("copy")
// works on plain http too, from a click. Both are injected, so tests can stand in for them.

export interface ClipboardEnv {
  /** navigator.clipboard.writeText, where there is one. */
  writeText?: ((text: string) => Promise<void>) | undefined;
  /** Copies through a selected scratch field; false when the browser would not. */
  execCopy?: ((text: string) => boolean) | undefined;
}

/** Copies `text`; resolves to whether it reached the clipboard. */
export async function copyText(text: string, env: ClipboardEnv = browserClipboard()): Promise<boolean> {
  if (env.writeText) {
    try {
      await env.writeText(text);
      return true;
    } catch {
      // refused: try the older way
    }
  }
  if (env.execCopy) {
    try {
      return env.execCopy(text);
    } catch {
      return false;
    }
  }
  return false;
}

export function browserClipboard(): ClipboardEnv {
  const clipboard = typeof navigator !== "undefined" ? navigator.clipboard : undefined;
  return {
    writeText: clipboard?.writeText ? (text) => clipboard.writeText(text) : undefined,
    execCopy: typeof document !== "undefined" ? execCopy : undefined,
  };
}

function execCopy(text: string): boolean {
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const scratch = document.createElement("textarea");
  scratch.value = text;
  scratch.readOnly = true; // no on-screen keyboard on phones
  scratch.className = "clipboard-scratch"; // off screen; a style attribute would break the CSP
  document.body.append(scratch);
  try {
    scratch.select();
    return document.execCommand("copy");
  } finally {
    scratch.remove();
    previous?.focus();
  }
}
