// Installing ssehub as operators do. The Debian package (`make package`) installed on this
// machine with dpkg: files where the package says, dependencies computed from the libraries
// the binary links, the ssehub system user, a systemd unit that systemd-analyze accepts with the
// hardening it promises, and the installed binary serving a v2 round trip as that user with the
// packaged config. No systemd runs as PID 1 here, so the unit is verified, not started. And
// `make install`, into a scratch DESTDIR under another prefix.
//
// The package needs root (dpkg -i; CI runs as root on a throwaway machine). It is purged at
// the end, and the build's own binary is checked to still run.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import {
  BINARY, ROOT, eventually, publishOk, request, run, sse, uniqueUser, within,
} from "../integration/lib/server.mjs";

const BUILD_DIR = path.dirname(BINARY);
const INSTALLED = {
  binary: "/usr/bin/ssehub",
  config: "/etc/ssehub/ssehub.toml",
  unit: "/lib/systemd/system/ssehub.service",
  sysusers: "/usr/lib/sysusers.d/ssehub.conf",
  web: "/usr/share/ssehub/web",
  man: "/usr/share/man/man1/ssehub.1.gz",
  doc: "/usr/share/doc/ssehub",
  state: "/var/lib/ssehub",
  enabled: "/etc/systemd/system/multi-user.target.wants/ssehub.service",
};
const isRoot = process.getuid?.() === 0;

async function ok(command, args, options) {
  const res = await run(command, args, { timeout: 120_000, ...options });
  assert.equal(res.code, 0, `${command} ${args.join(" ")} exited ${res.code}:\n${res.stdout}${res.stderr}`);
  return res;
}

async function purge() {
  const res = await run("dpkg", ["--purge", "ssehub"], { timeout: 120_000 });
  if (res.code !== 0) throw new Error(`dpkg --purge ssehub failed:\n${res.stdout}${res.stderr}`);
}

/** dpkg's status of the package ("install ok installed"), or "" when dpkg holds nothing of it. */
async function installedStatus() {
  const res = await run("dpkg-query", ["-W", "-f=${Status}", "ssehub"]);
  return res.code === 0 && !res.stdout.endsWith(" not-installed") ? res.stdout : "";
}

async function userEntry(name) {
  const res = await run("getent", ["passwd", name]);
  if (res.code !== 0) return null;
  const [user, , uid, gid, gecos, home, shell] = res.stdout.trim().split(":");
  return { user, uid: Number(uid), gid: Number(gid), gecos, home, shell };
}

/** A unit file's directives: Map of "Section.Key" to the list of values, in order. */
function parseUnit(text) {
  const directives = new Map();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    if (!directives.has(key)) directives.set(key, []);
    directives.get(key).push(line.slice(eq + 1));
  }
  return directives;
}

/** The option names of `binary --help` (--port, ...), --help itself left out. */
async function helpOptions(binary) {
  const { stdout } = await ok(binary, ["--help"]);
  return [...stdout.matchAll(/^\s+(?:-\w,)?--([a-z0-9-]+)/gm)].map((m) => m[1]).filter((o) => o !== "help");
}

describe("the Debian package", { skip: isRoot ? false : "needs root (dpkg -i)" }, () => {
  let deb;
  let contents; // paths of the package's regular files
  let unit;

  before(async () => {
    if (await installedStatus()) await purge(); // left by an aborted run
    await ok("make", ["-s", "-C", ROOT, "package", `BUILD_DIR=${BUILD_DIR}`], { timeout: 900_000 });
    const dir = path.join(BUILD_DIR, "packages");
    const debs = [];
    for (const name of await fs.readdir(dir)) {
      if (/^ssehub_.*\.deb$/.test(name)) debs.push({ name, mtime: (await fs.stat(path.join(dir, name))).mtimeMs });
    }
    assert.ok(debs.length > 0, `make package wrote no ssehub_*.deb into ${dir}`);
    deb = path.join(dir, debs.sort((a, b) => b.mtime - a.mtime)[0].name);
    const listing = (await ok("dpkg-deb", ["--contents", deb])).stdout;
    contents = listing.split("\n").filter((line) => line.startsWith("-"))
      .map((line) => line.split(/\s+/).slice(5).join(" ").replace(/^\./, ""));
  }, { timeout: 960_000 });

  after(async () => {
    if (await installedStatus()) await purge();
  }, { timeout: 130_000 });

  it("installs with dpkg -i; its scripts create the ssehub system user and enable the unit", async () => {
    await ok("dpkg", ["-i", deb]);
    assert.equal(await installedStatus(), "install ok installed");
    const user = await userEntry("ssehub");
    assert.ok(user, "no ssehub user");
    assert.ok(user.uid < 1000, `a system uid, not ${user.uid}`);
    assert.equal(user.home, INSTALLED.state);
    assert.equal(user.shell, "/usr/sbin/nologin");
    const state = await fs.stat(INSTALLED.state);
    assert.ok(state.isDirectory());
    assert.equal(state.uid, user.uid);
    assert.equal(state.mode & 0o777, 0o750);
    assert.equal(await fs.readlink(INSTALLED.enabled), INSTALLED.unit);
  });

  it("puts every file where it says, unmodified, the config as a conffile", async () => {
    const listed = new Set((await ok("dpkg", ["-L", "ssehub"])).stdout.trim().split("\n"));
    for (const file of contents) assert.ok(listed.has(file), `dpkg -L does not list ${file}`);
    const expected = [
      INSTALLED.binary, INSTALLED.config, INSTALLED.unit, INSTALLED.sysusers, INSTALLED.man,
      `${INSTALLED.web}/index.html`, `${INSTALLED.doc}/README.md`, `${INSTALLED.doc}/copyright`,
      `${INSTALLED.doc}/monitoring/ssehub-alerts.yml`, `${INSTALLED.doc}/monitoring/ssehub-dashboard.json`,
    ];
    for (const file of expected) assert.ok(contents.includes(file), `the package lacks ${file}`);
    const webFiles = contents.filter((f) => f.startsWith(`${INSTALLED.web}/`));
    const built = await fs.readdir(path.join(ROOT, "web/dist"), { recursive: true, withFileTypes: true });
    assert.equal(webFiles.length, built.filter((e) => e.isFile()).length, "every file of web/dist");
    assert.deepEqual(await fs.readFile(`${INSTALLED.web}/index.html`),
                     await fs.readFile(path.join(ROOT, "web/dist/index.html")));
    // dpkg --verify compares every installed file with the package's checksums.
    const verify = await ok("dpkg", ["--verify", "ssehub"]);
    assert.equal(verify.stdout, "");
    const conffiles = (await ok("dpkg-query", ["-W", "-f=${Conffiles}", "ssehub"])).stdout;
    assert.match(conffiles, new RegExp(`^ ${INSTALLED.config} [0-9a-f]{32}$`, "m"));
    assert.equal((await fs.stat(INSTALLED.binary)).mode & 0o777, 0o755);
  });

  it("depends on the package of every library the binary links", async () => {
    const depends = (await ok("dpkg-query", ["-W", "-f=${Depends}", "ssehub"])).stdout;
    const dependedOn = new Set(depends.split(",").map((d) => d.trim().split(/[\s(]/)[0]));
    const needed = [...(await ok("readelf", ["-d", INSTALLED.binary])).stdout
      .matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]);
    assert.ok(needed.includes("librdkafka.so.1") && needed.some((l) => l.startsWith("libjwt")),
              `links librdkafka and libjwt: ${needed}`);
    const resolved = new Map([...(await ok("ldd", [INSTALLED.binary])).stdout
      .matchAll(/^\s*(\S+) => (\S+)/gm)].map((m) => [m[1], m[2]]));
    for (const soname of needed) {
      const file = resolved.get(soname);
      assert.ok(file, `ldd does not resolve ${soname}`);
      // dpkg records a library under /lib or /usr/lib, whichever its package ships.
      const candidates = [file, file.startsWith("/usr/") ? file.slice(4) : `/usr${file}`];
      let owner = null;
      for (const candidate of candidates) {
        const res = await run("dpkg", ["-S", candidate]);
        if (res.code === 0) owner = res.stdout.split(":")[0];
        if (owner) break;
      }
      assert.ok(owner, `no package owns ${file}`);
      // Debian's shlibs may name a virtual package the owner provides (libspdlog1.10-fmt9).
      const provides = (await ok("dpkg-query", ["-W", "-f=${Provides}", owner])).stdout;
      const names = [owner, ...provides.split(",").map((p) => p.trim().split(/[\s(]/)[0]).filter(Boolean)];
      assert.ok(names.some((name) => dependedOn.has(name)),
                `${soname} comes from ${owner}, which Depends lacks: ${depends}`);
    }
    assert.ok(dependedOn.has("adduser"), "adduser, for the maintainer scripts");
  });

  it("ships ssehub --help as its man page", async () => {
    const page = zlib.gunzipSync(await fs.readFile(INSTALLED.man)).toString("utf8");
    const text = page.replace(/\\f[BIRP]/g, "").replace(/\\-/g, "-");
    assert.match(text, /^\.TH SSEHUB "1" /m);
    for (const option of await helpOptions(INSTALLED.binary)) {
      assert.ok(text.includes(`--${option}`), `the man page lacks --${option}`);
    }
    assert.match(text, /\/etc\/ssehub\/ssehub\.toml/);
  });

  it("configures the installed paths, loopback, and only real options in its comments", async () => {
    const config = await fs.readFile(INSTALLED.config, "utf8");
    const active = new Map([...config.matchAll(/^([a-z][a-z0-9_]*) = (.+?)\s*$/gm)].map((m) => [m[1], m[2]]));
    assert.equal(active.get("host"), '"127.0.0.1"');
    assert.equal(active.get("web_root"), `"${INSTALLED.web}"`);
    assert.equal(active.get("data_dir"), `"${INSTALLED.state}"`);
    const commented = [...config.matchAll(/^# ([a-z][a-z0-9_]*) = \S/gm)].map((m) => m[1]);
    assert.ok(commented.length >= 20, `the common settings are documented (${commented.length})`);
    const options = new Set(await helpOptions(INSTALLED.binary));
    for (const key of [...active.keys(), ...commented]) {
      assert.ok(options.has(key.replaceAll("_", "-")), `${key} is not an option of ssehub --help`);
    }
  });

  it("has a unit systemd-analyze accepts, with the user, limits and hardening it needs", async () => {
    const verify = await run("systemd-analyze", ["verify", INSTALLED.unit]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.doesNotMatch(verify.stderr + verify.stdout, /ssehub/, "no warning about the unit");
    unit = parseUnit(await fs.readFile(INSTALLED.unit, "utf8"));
    const one = (key) => {
      const values = unit.get(key);
      assert.ok(values, `${key} is not set`);
      return values.at(-1);
    };
    assert.equal(one("Service.ExecStart"), `${INSTALLED.binary} --config ${INSTALLED.config}`);
    assert.equal(one("Service.User"), "ssehub");
    assert.equal(one("Service.StateDirectory"), "ssehub");
    assert.ok(Number(one("Service.LimitNOFILE")) >= 65536, "room for many streams");
    assert.equal(one("Service.Restart"), "on-failure");
    assert.equal(one("Service.KillSignal"), "SIGTERM");
    assert.match(one("Service.TimeoutStopSec"), /^\d+s$/);
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                       "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                       "ProtectControlGroups", "RestrictNamespaces", "RestrictSUIDSGID",
                       "LockPersonality", "MemoryDenyWriteExecute"]) {
      assert.equal(one(`Service.${key}`), "yes", key);
    }
    assert.equal(one("Service.ProtectSystem"), "strict");
    assert.equal(one("Service.CapabilityBoundingSet"), "", "no capabilities at all");
    assert.deepEqual(one("Service.RestrictAddressFamilies").split(" ").sort(), ["AF_INET", "AF_INET6", "AF_UNIX"]);
    assert.equal(unit.get("Service.SystemCallFilter")[0], "@system-service");
    assert.equal(one("Install.WantedBy"), "multi-user.target");
    // systemd's own score of the sandbox: 0 is locked down, 10 is none; 2 is its "OK" band.
    const security = await run("systemd-analyze", ["security", "--offline=yes", "--threshold=20", INSTALLED.unit]);
    assert.equal(security.code, 0, `exposure above 2.0:\n${security.stdout.split("\n").filter((l) => l.includes("✗")).join("\n")}`);
  });

  it("runs the installed binary as ssehub with the packaged config: a v2 round trip", async (t) => {
    const user = await userEntry("ssehub");
    const work = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-deb-"));
    t.after(() => fs.rm(work, { recursive: true, force: true }));
    await fs.chown(work, user.uid, user.gid);
    const portFile = path.join(work, "port");
    // The unit's command line, as its user, without capabilities or privilege gains, on a free
    // port; the rest (host, web root, data dir) comes from the packaged config.
    const command = unit.get("Service.ExecStart").at(-1).split(" ");
    const child = spawn("setpriv", [
      "--reuid=ssehub", "--regid=ssehub", "--init-groups", "--no-new-privs", "--bounding-set=-all",
      ...command, "--port", "0", "--port-file", portFile,
    ], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" } });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    t.after(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"));

    const port = await eventually(async () => Number.parseInt(await fs.readFile(portFile, "utf8"), 10) || false,
                                  { timeout: 15_000, what: `the port file; log:\n${log}` });
    const url = `http://127.0.0.1:${port}`;
    const status = (await fs.readFile(`/proc/${child.pid}/status`, "utf8"));
    assert.match(status, new RegExp(`^Uid:\\s+${user.uid}\\s+${user.uid}\\s`, "m"), "runs as ssehub");

    const username = uniqueUser("deb");
    const stream = await sse(`${url}/v2/sse?username=${username}`);
    assert.equal(stream.status, 200);
    const id = await publishOk(url, username, "from the package");
    await stream.waitId(id);
    assert.deepEqual(stream.data(), ["from the package"]);
    stream.close();

    const page = await request(`${url}/`, { headers: { Accept: "text/html" } });
    assert.equal(page.status, 200);
    assert.equal(page.body, await fs.readFile(`${INSTALLED.web}/index.html`, "utf8"));
    assert.match(log, new RegExp(`data in ${INSTALLED.state}\\)`));
    const history = await fs.stat(path.join(INSTALLED.state, "history.segments"));
    assert.equal(history.uid, user.uid, "history.segments belongs to ssehub");

    // What systemd sends to stop the service (KillSignal) ends it cleanly within TimeoutStopSec.
    const stopSeconds = Number.parseInt(unit.get("Service.TimeoutStopSec").at(-1), 10);
    child.kill(unit.get("Service.KillSignal").at(-1));
    const { code } = await within(stopSeconds * 1000, exit, "ssehub to stop within TimeoutStopSec");
    assert.equal(code, 0, log);
  });

  it("keeps a changed config and the user across a reinstall", async () => {
    const before = await userEntry("ssehub");
    await fs.appendFile(INSTALLED.config, "# changed by the operator\n");
    await ok("dpkg", ["-i", deb]);
    assert.match(await fs.readFile(INSTALLED.config, "utf8"), /# changed by the operator\n$/);
    assert.deepEqual(await userEntry("ssehub"), before);
  });

  it("is purged completely: files, data, user, enablement; the build's binary still runs", async () => {
    await purge();
    assert.equal(await installedStatus(), "");
    for (const file of [...contents, INSTALLED.state, INSTALLED.enabled, "/etc/ssehub"]) {
      assert.ok(!existsSync(file), `${file} is left behind`);
    }
    assert.equal(await userEntry("ssehub"), null, "the ssehub user is left behind");
    const res = await run(BINARY, ["--help"]);
    assert.equal(res.code, 0, `${BINARY} --help: ${res.stderr}`);
  });
});

describe("make install", () => {
  // What `make install DESTDIR=...` runs after building, with its default prefix, into a
  // scratch DESTDIR.
  const prefix = "/usr/local";

  let previousPrefix;

  before(async () => {
    const cache = await fs.readFile(path.join(BUILD_DIR, "CMakeCache.txt"), "utf8");
    previousPrefix = /^CMAKE_INSTALL_PREFIX:PATH=(.*)$/m.exec(cache)?.[1];
  });

  after(async () => {
    // The build directory is shared: give it back the prefix it had.
    if (previousPrefix) await ok("cmake", ["-S", ROOT, "-B", BUILD_DIR, `-DCMAKE_INSTALL_PREFIX=${previousPrefix}`]);
  });

  it("puts the same files under PREFIX, the unit and the config naming them", async (t) => {
    const destdir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-install-"));
    t.after(() => fs.rm(destdir, { recursive: true, force: true }));
    await ok("cmake", ["-S", ROOT, "-B", BUILD_DIR, `-DCMAKE_INSTALL_PREFIX=${prefix}`]);
    await ok("cmake", ["--install", BUILD_DIR], { env: { DESTDIR: destdir } });
    const at = (file) => path.join(destdir, file);
    for (const file of ["bin/ssehub", "etc/ssehub/ssehub.toml", "lib/systemd/system/ssehub.service",
                        "lib/sysusers.d/ssehub.conf", "share/ssehub/web/index.html",
                        "share/man/man1/ssehub.1.gz", "share/doc/ssehub/README.md"]) {
      assert.ok(existsSync(at(`${prefix}/${file}`)), `${prefix}/${file} is not installed`);
    }
    const unit = parseUnit(await fs.readFile(at(`${prefix}/lib/systemd/system/ssehub.service`), "utf8"));
    assert.equal(unit.get("Service.ExecStart").at(-1),
                 `${prefix}/bin/ssehub --config ${prefix}/etc/ssehub/ssehub.toml`);
    const config = await fs.readFile(at(`${prefix}/etc/ssehub/ssehub.toml`), "utf8");
    assert.match(config, new RegExp(`^web_root = "${prefix}/share/ssehub/web"$`, "m"));
    assert.match(config, /^data_dir = "\/var\/lib\/ssehub"$/m);
    const sysusers = await fs.readFile(at(`${prefix}/lib/sysusers.d/ssehub.conf`), "utf8");
    assert.match(sysusers, /^u ssehub - .* \/var\/lib\/ssehub /m);
  });

  it("refuses another prefix than the one the unit and config were made for", async () => {
    const res = await run("cmake", ["--install", BUILD_DIR, "--prefix", "/elsewhere"],
                          { env: { DESTDIR: path.join(os.tmpdir(), "ssehub-never-written") } });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /made for the prefix \/usr\/local, not \/elsewhere/);
    assert.ok(!existsSync(path.join(os.tmpdir(), "ssehub-never-written")));
  });
});
