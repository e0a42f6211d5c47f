// DynamoDB for the integration tests: dynalite (scripts/dynalite), spoken to through the JSON
// API with a placeholder signature (dynalite wants one but checks none).
//
// SSEHUB_TEST_DYNAMODB_ENDPOINT names a DynamoDB-compatible server already running (scripts/test-all
// sets it); otherwise sharedDynalite() starts scripts/dynamodb-local if nothing answers on its port.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { ROOT, eventually, freePort, within } from "./server.mjs";

const DYNAMODB_LOCAL = path.join(ROOT, "scripts/dynamodb-local");
const DYNALITE_CLI = path.join(ROOT, "scripts/dynalite/node_modules/dynalite/cli.js");

// A PrivateDynalite left behind by a failed test must not outlive the test process.
const children = new Set();
const dataDirs = new Set();
process.on("exit", () => {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** Calls `operation` on `endpoint`. Resolves {status, json}; never throws on a DynamoDB error. */
export async function ddb(endpoint, operation, body, { timeout = 10_000 } = {}) {
  const now = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const res = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": `DynamoDB_20120810.${operation}`,
      "X-Amz-Date": now,
      Authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, ` +
                     "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0",
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, body: text };
}

/** Like ddb() but throws unless DynamoDB answered 200. */
export async function ddbOk(endpoint, operation, body) {
  const res = await ddb(endpoint, operation, body);
  if (res.status !== 200) throw new Error(`DynamoDB ${operation} answered ${res.status}: ${res.body}`);
  return res.json;
}

/** True when something answers HTTP on `endpoint`. */
export async function answers(endpoint) {
  try {
    await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * The DynamoDB the suite shares with other users of this machine: SSEHUB_TEST_DYNAMODB_ENDPOINT,
 * or scripts/dynamodb-local's dynalite, started if nothing answers. Resolves {endpoint, release()};
 * release() stops dynalite only if this call started it.
 */
export async function sharedDynalite() {
  const given = process.env.SSEHUB_TEST_DYNAMODB_ENDPOINT;
  if (given) return { endpoint: given.replace(/\/$/, ""), release: async () => {} };
  const endpoint = `http://127.0.0.1:${process.env.DYNAMODB_PORT ?? 8111}`;
  if (await answers(endpoint)) return { endpoint, release: async () => {} };
  const start = spawnSync(DYNAMODB_LOCAL, ["start"], { encoding: "utf8", timeout: 120_000 });
  if (start.status !== 0) throw new Error(`scripts/dynamodb-local start failed:\n${start.stdout}${start.stderr}`);
  return {
    endpoint,
    release: async () => {
      spawnSync(DYNAMODB_LOCAL, ["stop"], { encoding: "utf8", timeout: 30_000 });
    },
  };
}

/**
 * A dynalite of the test's own on `port`, keeping its data in `dir` so that it can be stopped
 * (a store outage) and started again with everything still there.
 */
export class PrivateDynalite {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.proc = null;
    this.log = [];
  }

  get endpoint() {
    return `http://127.0.0.1:${this.port}`;
  }

  static async create() {
    if (!existsSync(DYNALITE_CLI)) {
      const install = spawnSync(DYNAMODB_LOCAL, ["install"], { encoding: "utf8", timeout: 120_000 });
      if (install.status !== 0) throw new Error(`dynalite install failed:\n${install.stdout}${install.stderr}`);
    }
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-it-dynalite-"));
    dataDirs.add(dir);
    return new PrivateDynalite(await freePort(), dir);
  }

  async start() {
    const child = spawn(process.execPath, [DYNALITE_CLI, "--host", "127.0.0.1", "--port", String(this.port),
                                           "--path", path.join(this.dir, "db"), "--createTableMs", "0",
                                           "--deleteTableMs", "0", "--updateTableMs", "0"],
                        { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = child;
    children.add(child);
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (d) => this.log.push(d));
    }
    this.exit = new Promise((resolve) => child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }));
    let exited = null;
    this.exit.then((status) => (exited = status));
    await eventually(async () => {
      if (exited) throw new Error(`dynalite exited at start (${JSON.stringify(exited)}): ${this.log.join("")}`);
      return answers(this.endpoint);
    }, { timeout: 15_000, what: `dynalite on ${this.endpoint}` });
    return this;
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Stops dynalite; SIGKILL by default, an outage that gives nobody a clean goodbye. */
  async stop(signal = "SIGKILL") {
    if (!this.running) return;
    this.proc.kill(signal);
    await within(10_000, this.exit, "dynalite to exit");
  }

  async dispose() {
    await this.stop();
    await fs.rm(this.dir, { recursive: true, force: true });
    dataDirs.delete(this.dir);
  }
}


/**
 * An HTTP proxy in front of DynamoDB that can lose answers: `decide(operation, request)` says
 * per call "pass", "drop" (forward, let DynamoDB apply it, then cut the connection: the answer
 * is lost) or "hang" (forward, then never answer). `calls` lists {operation, decision}.
 */
export class DynamoDbProxy {
  constructor(target) {
    this.target = target;
    this.decide = () => "pass";
    this.calls = [];
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  get endpoint() {
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const operation = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {}
    const decision = this.decide(operation, parsed) ?? "pass";
    this.calls.push({ operation, decision, request: parsed });
    let answer;
    try {
      answer = await fetch(`${this.target}/`, {
        method: "POST",
        headers: Object.fromEntries(["content-type", "x-amz-target", "x-amz-date", "authorization",
                                     "x-amz-security-token"].filter((h) => req.headers[h]).map((h) => [h, req.headers[h]])),
        body,
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      req.socket.destroy();
      return;
    }
    const text = await answer.text();
    if (decision === "drop") return req.socket.destroy();
    if (decision === "hang") return; // the socket stays open until close()
    const headers = { "Content-Type": answer.headers.get("content-type") ?? "application/x-amz-json-1.0" };
    const crc = answer.headers.get("x-amz-crc32");
    if (crc) headers["x-amz-crc32"] = crc;
    res.writeHead(answer.status, headers);
    res.end(text);
  }

  async close() {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * Creates a table shaped like scripts/dynamodb_local_init.sh's (hash key report_id, GSI
 * UserIdIndex on user_id, projection ALL) and waits until it and its index are ACTIVE.
 */
export async function createReportTable(endpoint, table) {
  const request = (billing, indexBilling = {}) => ({
    TableName: table,
    AttributeDefinitions: [{ AttributeName: "report_id", AttributeType: "S" },
                           { AttributeName: "user_id", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "report_id", KeyType: "HASH" }],
    GlobalSecondaryIndexes: [{ IndexName: "UserIdIndex",
                               KeySchema: [{ AttributeName: "user_id", KeyType: "HASH" }],
                               Projection: { ProjectionType: "ALL" }, ...indexBilling }],
    ...billing,
  });
  let res = await ddb(endpoint, "CreateTable", request({ BillingMode: "PAY_PER_REQUEST" }));
  if (res.status === 400 && /ValidationException/.test(res.body)) {
    const throughput = { ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } };
    res = await ddb(endpoint, "CreateTable", request(throughput, throughput));
  }
  if (res.status !== 200) throw new Error(`CreateTable ${table} answered ${res.status}: ${res.body}`);
  await eventually(async () => {
    const { json } = await ddb(endpoint, "DescribeTable", { TableName: table });
    const t = json?.Table;
    return t?.TableStatus === "ACTIVE" && (t.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === "ACTIVE");
  }, { timeout: 30_000, interval: 100, what: `table ${table} to become ACTIVE` });
}

/**
 * Deletes `table` and waits until it is gone (dynalite keeps a table DELETING for a while, and
 * stopping it before then would keep the table). A missing table or endpoint is not an error.
 */
export async function deleteTable(endpoint, table) {
  try {
    await ddb(endpoint, "DeleteTable", { TableName: table }, { timeout: 5_000 });
    await eventually(async () => (await ddb(endpoint, "DescribeTable", { TableName: table })).status === 400,
                     { timeout: 10_000, interval: 100, what: `table ${table} to be deleted` });
  } catch {}
}

/** Every item of `table` (consistent Scan, all pages). */
export async function scanAll(endpoint, table) {
  const items = [];
  let start;
  do {
    const page = await ddbOk(endpoint, "Scan", { TableName: table, ConsistentRead: true,
                                                 ...(start ? { ExclusiveStartKey: start } : {}) });
    items.push(...page.Items);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** A table name of its own for this run. */
export function uniqueTableName(prefix = "ssehub_it") {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
