// Helpers of the Kafka integration tests: a real broker (scripts/kafka), kcat as the producer,
// and ssehub's Kafka options and readiness.
//
// KAFKA_PORT / KAFKA_DATA_DIR select another broker, as they do for scripts/kafka.

import { after, before } from "node:test";
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT, eventually, readyz, request, run, within } from "./server.mjs";

export const BROKERS = `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`;
const SCRIPT = path.join(ROOT, "scripts/kafka");
// kcat splits its input into records at RS and each record into key and value at US, so a
// record may hold any other byte, line breaks and colons included.
const RECORD_SEPARATOR = "\x1e";
const KEY_SEPARATOR = "\x1f";

// ---------------------------------------------------------------------------------------------
// The broker

export async function brokerRunning() {
  return (await run(SCRIPT, ["status"], { timeout: 10_000 })).code === 0;
}

/** scripts/kafka start (installs Kafka the first time); throws with its output on failure. */
export async function startBroker() {
  const res = await run(SCRIPT, ["start"], { timeout: 300_000 });
  if (res.code !== 0) throw new Error(`scripts/kafka start failed (${res.code}):\n${res.stdout}${res.stderr}`);
}

/** scripts/kafka stop: a controlled shutdown, so the broker keeps its data. */
export async function stopBroker() {
  const res = await run(SCRIPT, ["stop"], { timeout: 60_000 });
  if (res.code !== 0) throw new Error(`scripts/kafka stop failed (${res.code}):\n${res.stdout}${res.stderr}`);
}

/**
 * Registers file-level hooks: the broker is started before the file's tests unless it already
 * runs, and stopped after them only if they started it.
 */
export function useBroker() {
  let startedHere = false;
  before(async () => {
    if (!(await brokerRunning())) {
      await startBroker();
      startedHere = true;
    }
  }, { timeout: 320_000 });
  after(async () => {
    if (startedHere) await stopBroker();
  }, { timeout: 70_000 });
}

// ---------------------------------------------------------------------------------------------
// Topics and records

/** A topic or group name no other run shares. */
export function uniqueName(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Partition count of `topic` (0 when it does not exist yet). */
export async function partitionCount(topic) {
  const res = await run("kcat", ["-b", BROKERS, "-L", "-t", topic, "-m", "5"], { timeout: 15_000 });
  const match = /topic "[^"]+" with (\d+) partitions/.exec(res.stdout);
  return match ? Number(match[1]) : 0;
}

/**
 * Partition count of `topic` from the whole cluster's metadata, 0 when it does not exist:
 * unlike partitionCount(), asking does not make the broker create it.
 */
export async function existingPartitionCount(topic) {
  const res = await run("kcat", ["-b", BROKERS, "-L", "-m", "5"], { timeout: 15_000 });
  const match = new RegExp(`topic "${topic.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}" with (\\d+) partitions`).exec(res.stdout);
  return match ? Number(match[1]) : 0;
}

/**
 * Creates each topic (with the broker's default partition count: a metadata request for a
 * missing topic makes the broker create it) and waits until it has partitions.
 */
export async function createTopics(...topics) {
  await Promise.all(topics.map((topic) => eventually(() => partitionCount(topic).then((n) => n > 0),
                                                     { timeout: 20_000, interval: 100, what: `topic ${topic}` })));
}

// One kcat input chunk per record: `key US value` when keyed, else the bare value.
function encodeRecord(record, keyed) {
  const [key, value] = Array.isArray(record) ? record.map((x) => Buffer.from(x)) : [null, Buffer.from(record)];
  for (const part of [key, value]) {
    if (part && (part.includes(RECORD_SEPARATOR) || part.includes(KEY_SEPARATOR))) {
      throw new Error("a record may not contain \\x1e or \\x1f (kcat's separators here)");
    }
  }
  if (!keyed) return value;
  if (!key) throw new Error("records of one kcat run are either all keyed or all not");
  return Buffer.concat([key, Buffer.from(KEY_SEPARATOR), value]);
}

function kcatProduceArgs(topic, keyed) {
  return ["-P", "-b", BROKERS, "-t", topic, "-D", "\\x1e", ...(keyed ? ["-K", "\\x1f"] : []),
          "-X", "linger.ms=0"];
}

/**
 * Produces `records` to `topic` with kcat, in order, and waits until the broker has them.
 * A record is a string or Buffer, or [key, value]; `key` gives every bare record that key.
 * Records of one key share a partition and so keep their order; records without a key are
 * spread over partitions. `partition` sends them all to that partition.
 */
export async function produce(topic, records, { key, partition, timeout = 30_000 } = {}) {
  if (records.length === 0) return;
  if (key !== undefined) records = records.map((r) => (Array.isArray(r) ? r : [key, r]));
  const keyed = Array.isArray(records[0]);
  const parts = records.map((r) => encodeRecord(r, keyed));
  const input = Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(RECORD_SEPARATOR), p])));
  const args = [...kcatProduceArgs(topic, keyed), ...(partition === undefined ? [] : ["-p", String(partition)])];
  const res = await run("kcat", args, { timeout, input });
  if (res.code !== 0 || /error|fail/i.test(res.stderr)) {
    throw new Error(`kcat -P ${topic} failed (${res.code}): ${res.stderr}`);
  }
}

/**
 * Sends records one kcat process each, without waiting: a record sent while the broker is
 * away is buffered and retried by its kcat until the broker is back. (One kcat reading a pipe
 * holds records back until its input ends, so it cannot stream.) Records in flight at once
 * may land in any order. end() resolves [{code, stderr}] once every kcat has exited.
 */
export function producer(topic) {
  const children = new Set();
  const exits = [];
  // -E: kcat gives up when every broker is down, unless told to keep trying.
  const args = [...kcatProduceArgs(topic, true), "-E", "-X", "reconnect.backoff.max.ms=500"];
  return {
    send(record) {
      const child = spawn("kcat", args, { stdio: ["pipe", "ignore", "pipe"] });
      children.add(child);
      let stderr = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (d) => (stderr += d));
      exits.push(new Promise((resolve) => child.on("close", (code) => {
        children.delete(child);
        resolve({ code, stderr });
      })));
      child.stdin.end(encodeRecord(record, true));
    },
    async end({ timeout = 60_000 } = {}) {
      return within(timeout, Promise.all(exits), `kcat producers of ${topic} to deliver and exit`);
    },
    kill() {
      for (const child of children) child.kill("SIGKILL");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ssehub

/** Options that make ssehub consume its own v3/v4 topics as its own group. */
export function ingestArgs({ group, v3Topic, v4Topic }) {
  return ["--kafka-brokers", BROKERS, "--kafka-group", group, "--kafka-v3-topic", v3Topic,
          "--kafka-v4-topic", v4Topic];
}

/** Waits until /readyz answers 200 "ready" with every check ok; returns its body. */
export async function waitReady(server, { timeout = 30_000 } = {}) {
  return eventually(async () => {
    const { status, json } = await readyz(server);
    return status === 200 && json?.status === "ready" ? json : false;
  }, { timeout, interval: 100, what: `${server.url}/readyz to be ready` });
}

/** ssehub_kafka_records_skipped_total{reason} of a metrics map, 0 when absent. */
export function skipped(m, reason) {
  return m.get("ssehub_kafka_records_skipped_total", { reason }) ?? 0;
}

export function ingested(m) {
  return m.get("ssehub_kafka_records_ingested_total") ?? 0;
}
