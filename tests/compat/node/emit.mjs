// What every Node-run driver of the compatibility suite prints: one JSON object a line (see
// tests/compat/README.md).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

function line(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** The version of an installed npm package, from its package.json. */
export function packageVersion(name) {
  // Some packages do not export ./package.json; resolve the entry point and walk up instead.
  let dir = require.resolve(name);
  for (;;) {
    dir = dir.slice(0, dir.lastIndexOf("/"));
    try {
      const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
      if (pkg.name === name) return pkg.version;
    } catch {}
    if (!dir.includes("/node_modules/")) throw new Error(`no package.json for ${name}`);
  }
}

export const hello = (client, version) => line({ client, version });
export const event = (type, id, data) => line({ type, id, data });
export const status = (kind, detail = "") => line({ status: kind, detail });

/**
 * `url` with `lastEventId` added to its query: how an EventSource, which cannot set headers,
 * starts from a given id (ssehub's documented `?lastEventId=`).
 */
export function withLastEventId(url, lastEventId) {
  if (!lastEventId) return url;
  const u = new URL(url);
  u.searchParams.set("lastEventId", lastEventId);
  return u.toString();
}
