// TLS sessions and certificates over time: resumption by session tickets (TLS 1.2 and 1.3),
// and SIGHUP, which reloads --tls-cert and --tls-key for new connections while the streams
// already open carry on, and keeps the certificate in use when the new files are bad.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import {
  SseParser, eventually, run, showServerLogsOnFailure, startServer, uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;
const HOST = "127.0.0.1";
const NAME = "localhost";

let dir;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-tls-sessions-"));
});
after(() => dir && fs.rm(dir, { recursive: true, force: true }));

/** A new self-signed P-256 certificate for localhost: {cert, key} as PEM text. */
async function makeCertificate(name) {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                     "-nodes", "-days", "1", "-subj", `/CN=${NAME}`, "-keyout", keyFile, "-out", certFile]);
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  return { cert: await fs.readFile(certFile, "utf8"), key: await fs.readFile(keyFile, "utf8") };
}

/** Replaces a file at once, as a certificate renewal does (rename, never a half-written file). */
async function replaceFile(file, text) {
  await fs.writeFile(`${file}.new`, text);
  await fs.rename(`${file}.new`, file);
}

/** A TLS connection; resolves {socket, sessions} once connected (sessions: those the server sent). */
function connect(port, options = {}) {
  return new Promise((resolve, reject) => {
    const sessions = [];
    const socket = tls.connect({ host: HOST, port, servername: NAME, ALPNProtocols: ["http/1.1"], ...options });
    socket.on("session", (session) => sessions.push(session));
    socket.once("secureConnect", () => resolve({ socket, sessions }));
    socket.once("error", reject);
  });
}

/** One HTTPS request on a connection of its own: {status, body, fingerprint}. */
function httpsRequest(port, p, { method = "GET", body, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: HOST, port, path: p, servername: NAME, ca, method, agent: false,
                                headers: body === undefined ? {} : { "Content-Type": "text/plain" } }, (res) => {
      const fingerprint = res.socket.getPeerCertificate().fingerprint256;
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, body: text, fingerprint }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** An SSE stream over HTTPS: {fingerprint, data(), waitForData(n), ended, close()}. */
function httpsSse(port, p, ca) {
  return new Promise((resolve, reject) => {
    const parser = new SseParser();
    const req = https.get({ host: HOST, port, path: p, servername: NAME, ca, agent: false,
                            headers: { Accept: "text/event-stream" } }, (res) => {
      const stream = {
        status: res.statusCode,
        fingerprint: res.socket.getPeerCertificate().fingerprint256,
        ended: false,
        data: () => parser.events.map((e) => e.data),
        waitForData: (n) => within(5_000, eventually(() => stream.data().length >= n || stream.ended,
                                                     { timeout: 5_000, what: `${n} events` }), `${n} events`),
        close: () => req.destroy(),
      };
      res.setEncoding("utf8");
      res.on("data", (text) => parser.feed(text));
      res.on("close", () => (stream.ended = true));
      resolve(stream);
    });
    req.on("error", reject);
  });
}

describe("TLS session tickets", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  let ca;
  before(async () => {
    const { cert, key } = await makeCertificate("tickets");
    ca = cert;
    await fs.writeFile(path.join(dir, "tickets-served.crt"), cert);
    await fs.writeFile(path.join(dir, "tickets-served.key"), key);
    server = await startServer(["--tls-cert", path.join(dir, "tickets-served.crt"),
                                "--tls-key", path.join(dir, "tickets-served.key")]);
  });
  after(() => server?.dispose());

  for (const version of ["TLSv1.2", "TLSv1.3"]) {
    it(`ASecondConnectionResumesWithTheFirstOnesTicketOver${version.replace(/\W/g, "")}`, T, async () => {
      const first = await connect(server.port, { ca, minVersion: version, maxVersion: version });
      assert.equal(first.socket.getProtocol(), version);
      assert.equal(first.socket.isSessionReused(), false);
      // TLS 1.3 tickets follow the handshake: wait for one.
      await eventually(() => first.sessions.length > 0, { what: "a session ticket" });
      assert.ok(first.socket.getTLSTicket(), "the server sent no ticket");
      first.socket.end();

      const second = await connect(server.port, { ca, minVersion: version, maxVersion: version,
                                                  session: first.sessions.at(-1) });
      try {
        assert.equal(second.socket.isSessionReused(), true);
      } finally {
        second.socket.destroy();
      }
    });
  }

  it("OpensslSClientReportsTheSessionReused", T, async () => {
    // The same with another client: OpenSSL's s_client, its session kept in a file.
    const sessionFile = path.join(dir, "s_client.session");
    const sClient = (...args) => run("openssl", ["s_client", "-connect", `${HOST}:${server.port}`, "-servername", NAME,
                                                 "-tls1_2", ...args], { input: "", timeout: 10_000 });
    const first = await sClient("-sess_out", sessionFile);
    assert.match(first.stdout, /^New, TLSv1\.2/m, first.stdout);
    const second = await sClient("-sess_in", sessionFile);
    assert.match(second.stdout, /^Reused, TLSv1\.2/m, second.stdout);
  });
});

describe("Certificate reload on SIGHUP", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  let certFile;
  let keyFile;
  let first;
  let second;
  let ca;
  before(async () => {
    first = await makeCertificate("first");
    second = await makeCertificate("second");
    ca = [first.cert, second.cert];
    certFile = path.join(dir, "served.crt");
    keyFile = path.join(dir, "served.key");
    await fs.writeFile(certFile, first.cert);
    await fs.writeFile(keyFile, first.key);
    server = await startServer(["--tls-cert", certFile, "--tls-key", keyFile]);
  });
  after(() => server?.dispose());

  const fingerprintOf = (pem) => new X509Certificate(pem).fingerprint256;
  const sighup = async (expected) => {
    const before = server.logMatching(expected).length;
    server.proc.kill("SIGHUP");
    await eventually(() => server.logMatching(expected).length > before, { what: `the log to say ${expected}` });
  };
  const publish = async (user, text) => {
    const res = await httpsRequest(server.port, `/v2/message?username=${user}`, { method: "POST", body: text, ca });
    assert.equal(res.status, 204, res.body);
  };

  it("NewConnectionsGetTheNewCertificateWhileOpenStreamsCarryOn", T, async () => {
    const user = uniqueUser("reload");
    const stream = await httpsSse(server.port, `/v2/sse?username=${user}`, ca);
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.fingerprint, fingerprintOf(first.cert));
      await publish(user, "before");

      await replaceFile(certFile, second.cert);
      await replaceFile(keyFile, second.key);
      await sighup(/tls: reloaded/);

      const fresh = await httpsRequest(server.port, "/healthz", { ca });
      assert.equal(fresh.status, 200);
      assert.equal(fresh.fingerprint, fingerprintOf(second.cert));
      // The stream opened before keeps its connection (and the certificate it was made with).
      await publish(user, "after");
      await stream.waitForData(2);
      assert.equal(stream.ended, false);
      assert.deepEqual(stream.data(), ["before", "after"]);
      assert.equal(server.proc.exitCode, null);
    } finally {
      stream.close();
    }
  });

  it("UnusableFilesOnSighupAreLoggedAndTheCertificateInUseIsKept", T, async () => {
    const served = (await httpsRequest(server.port, "/healthz", { ca })).fingerprint;
    const user = uniqueUser("bad-reload");
    const stream = await httpsSse(server.port, `/v2/sse?username=${user}`, ca);
    try {
      // A key of another certificate, then a certificate that is not one, then a missing key.
      const { key: strangerKey } = await makeCertificate("stranger");
      const cases = [
        [async () => replaceFile(keyFile, strangerKey), /reload failed.*does not match the certificate/],
        [async () => replaceFile(certFile, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
         /reload failed.*holds no usable PEM certificate/],
        [async () => fs.rm(keyFile), /reload failed.*cannot read --tls-key/],
      ];
      for (const [breakFiles, logged] of cases) {
        await breakFiles();
        await sighup(logged);
        const res = await httpsRequest(server.port, "/healthz", { ca });
        assert.equal(res.status, 200);
        assert.equal(res.fingerprint, served, `after ${logged}: another certificate is served`);
      }
      await publish(user, "still streaming");
      await stream.waitForData(1);
      assert.deepEqual(stream.data(), ["still streaming"]);
      assert.equal(stream.ended, false);
    } finally {
      stream.close();
    }
  });
});
