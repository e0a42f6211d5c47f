// Reports (v4) against both stores, SQLite and DynamoDB (dynalite): create, list, every status
// transition and its event on a real EventSource, every refusal (409, 400, 404), racing changes
// in one process and in two, restart and resume, scripts/update_report_status.sh, metrics, and
// for DynamoDB an outage of the store and answers lost between DynamoDB and ssehub.
//
// Streams are opened before the operations whose events they must (or must not) see: a stream
// opened around the time of an answer may or may not see that answer's event live (history
// hands it to the I/O threads' streams just before it answers the publisher).

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import {
  ROOT, eventSource, eventually, freePort, haveCurl, metrics, request, run, showServerLogsOnFailure, sleep, sse,
  startServer,
} from "./lib/server.mjs";
import {
  DynamoDbProxy, PrivateDynalite, createReportTable, ddbOk, deleteTable, scanAll, sharedDynalite,
  uniqueTableName,
} from "./lib/dynamodb.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const WAIT = { timeout: 10_000 }; // one event on a loaded 2-core machine, DynamoDB included

const CREATED = "report_created";
const UPDATE = "report_status_update";
const STATUSES = ["pending", "queued", "processing", "canceled", "failed", "completed"];
const VALID = new Set(["pending>queued", "pending>canceled", "queued>processing", "queued>canceled",
                       "processing>completed", "processing>failed", "failed>pending", "canceled>pending"]);
// How a new (pending) report reaches each status.
const PATH_TO = {
  pending: [],
  queued: ["queued"],
  processing: ["queued", "processing"],
  completed: ["queued", "processing", "completed"],
  failed: ["queued", "processing", "failed"],
  canceled: ["canceled"],
};
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SCRIPT = path.join(ROOT, "scripts/update_report_status.sh");
// A change younger than this is left to its own publisher by the recovery sweep
// (kSweepGraceMs in src/reports/report_service.cpp).
const SWEEP_GRACE_MS = 5_000;
const haveSqlite3 = spawnSync("sqlite3", ["-version"]).status === 0;

// ---------------------------------------------------------------------------------------------
// Clients of the v4 API

function reportsApi(baseUrl, { agent } = {}) {
  const q = (user) => `user_id=${encodeURIComponent(user)}`;
  return {
    create: (user) => request(`${baseUrl}/v4/new/report?${q(user)}`, { method: "POST", agent }),
    list: (user) => request(`${baseUrl}/v4/reports?${q(user)}`),
    /** PUT /v4/report; `body` and `contentType` override the well-formed defaults. */
    put: (user, id, status, { body, contentType = "application/json" } = {}) =>
      request(`${baseUrl}/v4/report?${q(user)}`, {
        method: "PUT",
        headers: contentType === null ? {} : { "Content-Type": contentType },
        body: body ?? JSON.stringify({ id, status }),
      }),
  };
}

async function createOk(api, user) {
  const res = await api.create(user);
  assert.equal(res.status, 201, `create answered ${res.status}: ${res.body}`);
  return res.json;
}

async function putOk(api, user, id, status) {
  const res = await api.put(user, id, status);
  assert.equal(res.status, 200, `PUT ${status} answered ${res.status}: ${res.body}`);
  return res.json;
}

async function listOk(api, user) {
  const res = await api.list(user);
  assert.equal(res.status, 200, `list answered ${res.status}: ${res.body}`);
  assert.ok(Array.isArray(res.json), res.body);
  return res.json;
}

/** A real EventSource on /v4/sse recording both report event types; resolves once it is open. */
async function openStream(baseUrl, user, query = "") {
  const es = eventSource(`${baseUrl}/v4/sse?user_id=${encodeURIComponent(user)}${query}`, { types: [CREATED, UPDATE] });
  await es.waitFor((c) => c.opens >= 1, { ...WAIT, what: "the EventSource to open" });
  return es;
}

const updates = (client) => client.data(UPDATE).map((d) => JSON.parse(d));
const created = (client) => client.data(CREATED).map((d) => JSON.parse(d));
const ts = (text) => Date.parse(text);
const transitionsTotal = async (url) => (await metrics(url)).get("ssehub_report_transitions_total");

/**
 * Proves that a stream got no event it should not have: creates a marker report (whose
 * report_created is the next event of the user) and waits for it. Anything stray was appended
 * before the marker, so it has arrived by then. Returns the events received since `from`.
 */
async function eventsUntilMarker(api, user, stream, from) {
  const marker = await createOk(api, user);
  await stream.waitFor((c) => created(c).some((r) => r.reportId === marker.reportId),
                       { ...WAIT, what: `the marker report ${marker.reportId}` });
  return stream.events.slice(from);
}

function runScript(args, env) {
  return run(SCRIPT, args, { timeout: 15_000, env });
}

// ---------------------------------------------------------------------------------------------
// The stores

/** What a server needs to use `store`: {args, endpoint, table, close()}. */
async function openStore(store) {
  if (store === "sqlite") return { args: ["--store", "sqlite"], close: async () => {} };
  const shared = await sharedDynalite();
  const table = uniqueTableName();
  await createReportTable(shared.endpoint, table);
  return {
    args: ["--store", "dynamodb", "--dynamodb-endpoint", shared.endpoint, "--dynamodb-table", table],
    endpoint: shared.endpoint,
    table,
    close: async () => {
      await deleteTable(shared.endpoint, table);
      await shared.release();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One suite, run against each store

for (const store of ["sqlite", "dynamodb"]) {
  describe(`v4 reports on ${store}`, () => {
    let backend;
    let server;
    let api;
    const streams = [];
    const stream = async (user, query) => {
      const es = await openStream(server.url, user, query);
      streams.push(es);
      return es;
    };

    before(async () => {
      backend = await openStore(store);
      server = await startServer(backend.args);
      api = reportsApi(server.url);
    });
    afterEach(() => {
      for (const es of streams.splice(0)) es.close();
    });
    after(async () => {
      await server?.dispose();
      await backend?.close();
    });

    it("CreateAnswers201WithAPendingReportAndSendsReportCreated", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const before = await transitionsTotal(server.url);
      // Any letter case is accepted; the answer names the user in canonical lowercase.
      const res = await api.create(user.toUpperCase());
      assert.equal(res.status, 201, res.body);
      assert.match(res.headers["content-type"], /^application\/json/);
      const report = res.json;
      assert.deepEqual(Object.keys(report).sort(), ["createdAt", "reportId", "reportStatus", "updatedAt", "userId"]);
      assert.equal(report.userId, user);
      assert.match(report.reportId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(report.reportStatus, "pending");
      assert.match(report.createdAt, RFC3339_MS);
      assert.equal(report.updatedAt, report.createdAt);
      assert.ok(Math.abs(ts(report.createdAt) - Date.now()) < 60_000, report.createdAt);
      assert.equal(res.headers.location, `/v4/reports?user_id=${user}`);

      await es.waitEvents(1, { type: CREATED, ...WAIT });
      assert.deepEqual(created(es), [report]);
      assert.match(es.events[0].lastEventId, /^[1-9][0-9]*$/);
      assert.deepEqual(await listOk(api, user), [report]);
      // A report being created is not a transition.
      assert.equal(await transitionsTotal(server.url), before);
    });

    it("ListAnswersAllOwnReportsOldestFirstAndNoOneElses", T, async () => {
      const user = randomUUID();
      const other = randomUUID();
      const mine = [];
      const theirs = [];
      for (let i = 0; i < 30; i++) {
        mine.push(await createOk(api, user));
        if (i % 10 === 5) theirs.push(await createOk(api, other));
      }
      const list = await listOk(api, user);
      assert.equal(list.length, 30);
      // Oldest first. Reports created within one millisecond are left to
      // SequentialCreatesListInCreationOrderWithinOneMillisecond, so this test proves the rest.
      const byId = (a, b) => (a.reportId < b.reportId ? -1 : 1);
      const stable = (reports) => [...reports].sort((a, b) => ts(a.createdAt) - ts(b.createdAt) || byId(a, b));
      assert.deepEqual(list.map((r) => r.createdAt), mine.map((r) => r.createdAt), "oldest first");
      assert.deepEqual(stable(list), stable(mine));
      assert.deepEqual(await listOk(api, other), theirs);
      assert.deepEqual(await listOk(api, user.toUpperCase()), list);
      assert.deepEqual(await listOk(api, randomUUID()), []);
    });

    it("SequentialCreatesListInCreationOrderWithinOneMillisecond", T, async () => {
      // Each POST is sent after the previous one was answered, so each report is strictly newer
      // than the one before, even when both got the same millisecond. On SQLite a server whose
      // history skips fsync makes such pairs common (as a fast disk does).
      const own = store === "sqlite" ? await startServer([...backend.args, "--history-sync", "normal"]) : null;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const fast = reportsApi((own ?? server).url, { agent });
        const user = randomUUID();
        // Creates until enough same-millisecond pairs were seen that listing them all in order
        // by luck is unlikely (each pair is a coin toss when ordered by random report id), within
        // a bounded time; DynamoDB round trips rarely share a millisecond, so there it just runs 200.
        const wantedPairs = store === "sqlite" ? 8 : 0;
        const deadline = Date.now() + 6_000;
        const made = [];
        let sameMs = 0;
        while (made.length < 200 || (sameMs < wantedPairs && made.length < 2_000 && Date.now() < deadline)) {
          made.push(await createOk(fast, user));
          if (made.length > 1 && made.at(-1).createdAt === made.at(-2).createdAt) sameMs++;
        }
        const N = made.length;
        const list = await listOk(fast, user);
        const misplaced = list.filter((r, i) => r.reportId !== made[i]?.reportId).length;
        // Which report broke the order, and how: one missing, one moved, or times out of order.
        const first = list.findIndex((r, i) => r.reportId !== made[i]?.reportId);
        const where = first < 0 ? "" : `; first at ${first}: listed ${JSON.stringify(list[first])}, created ` +
          `${JSON.stringify(made[first])} after ${JSON.stringify(made[first - 1])}; the listed one was ` +
          `created ${made.findIndex((r) => r.reportId === list[first].reportId)}th`;
        assert.equal(list.length, N, `${list.length} reports listed of ${N} created${where}`);
        assert.equal(misplaced, 0, `${misplaced} of ${N} reports listed out of creation order ` +
                                   `(${sameMs} were created in the same millisecond as the one before)${where}`);
      } finally {
        agent.destroy();
        await own?.dispose();
      }
    });

    if (store === "dynamodb") {
      it("ListPagesThroughMoreThanOneDynamoDbPage", T, async () => {
        // DynamoDB answers a Query in pages of at most 1 MB: four 300 kB items (attributes
        // ssehub ignores) take two pages, so an unpaged listing would miss some.
        const user = randomUUID();
        const seeded = [];
        for (let i = 0; i < 4; i++) {
          const at = new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString();
          const report = { userId: user, reportId: randomUUID(), reportStatus: "pending", createdAt: at, updatedAt: at };
          await ddbOk(backend.endpoint, "PutItem", {
            TableName: backend.table,
            Item: { report_id: { S: report.reportId }, user_id: { S: user }, status: { S: "pending" },
                    created_at: { S: at }, updated_at: { S: at }, padding: { S: "x".repeat(300_000) } },
          });
          seeded.push(report);
        }
        const fresh = [await createOk(api, user), await createOk(api, user)];
        assert.deepEqual(await listOk(api, user), [...seeded, ...fresh]);
      });
    }

    it("EveryValidTransitionAnswers200AndSendsOneStatusEvent", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const reports = [];
      for (let i = 0; i < 3; i++) reports.push(await createOk(api, user));
      await es.waitEvents(3, { type: CREATED, ...WAIT });
      const before = await transitionsTotal(server.url);

      // All eight transitions, statuses sent in assorted letter case.
      const plan = [[0, "Queued"], [0, "PROCESSING"], [0, "completed"],
                    [1, "canceled"], [1, "Pending"], [1, "queued"], [1, "CANCELED"],
                    [2, "queued"], [2, "processing"], [2, "Failed"], [2, "pending"]];
      const covered = new Set();
      const current = reports.map((r) => ({ ...r }));
      for (const [i, status] of plan) {
        const lower = status.toLowerCase();
        covered.add(`${current[i].reportStatus}>${lower}`);
        const n = updates(es).length + 1; // counted before the PUT: its event may beat its answer
        const answer = await putOk(api, user, reports[i].reportId, status);
        assert.equal(answer.reportStatus, lower);
        assert.equal(answer.reportId, reports[i].reportId);
        assert.equal(answer.userId, user);
        assert.equal(answer.createdAt, reports[i].createdAt);
        assert.match(answer.updatedAt, RFC3339_MS);
        assert.ok(ts(answer.updatedAt) > ts(current[i].updatedAt),
                  `updatedAt must move forward: ${current[i].updatedAt} -> ${answer.updatedAt}`);
        current[i] = answer;
        await es.waitEvents(n, { type: UPDATE, ...WAIT });
        assert.deepEqual(updates(es)[n - 1], { id: answer.reportId, status: lower, updatedAt: answer.updatedAt });
      }
      assert.deepEqual(covered, VALID);

      assert.equal(updates(es).length, plan.length);
      const ids = es.events.map((e) => Number(e.lastEventId));
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "event ids increase");
      assert.equal(new Set(ids).size, ids.length, "event ids are distinct");
      assert.deepEqual(await listOk(api, user), current);
      assert.deepEqual(current.map((r) => r.reportStatus), ["completed", "canceled", "pending"]);
      assert.equal(await transitionsTotal(server.url) - before, plan.length);
    });

    it("EveryInvalidTransitionAnswers409NamingBothStatusesAndChangesNothing", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const inStatus = {};
      let setupEvents = 0;
      for (const status of STATUSES) {
        const report = await createOk(api, user);
        let last = report;
        for (const step of PATH_TO[status]) last = await putOk(api, user, report.reportId, step);
        inStatus[status] = last;
        setupEvents += 1 + PATH_TO[status].length;
      }
      await es.waitFor((c) => c.events.length === setupEvents, { ...WAIT, what: "the events of the set-up" });
      const before = await transitionsTotal(server.url);

      const invalid = STATUSES.flatMap((from) => STATUSES.filter((to) => !VALID.has(`${from}>${to}`)).map((to) => [from, to]));
      assert.equal(invalid.length, 28); // 36 pairs less the 8 valid ones; a status to itself is invalid too
      let n = 0;
      for (const [from, to] of invalid) {
        const sent = n++ % 2 ? to.toUpperCase() : to;
        const res = await api.put(user, inStatus[from].reportId, sent);
        assert.equal(res.status, 409, `${from} -> ${to}: ${res.status} ${res.body}`);
        assert.match(res.headers["content-type"], /^application\/json/);
        assert.equal(res.json.currentStatus, from, `${from} -> ${to}: ${res.body}`);
        assert.equal(res.json.requestedStatus, to, `${from} -> ${to}: ${res.body}`);
        assert.equal(typeof res.json.error, "string");
        assert.equal(typeof res.json.detail, "string");
      }

      assert.deepEqual(await listOk(api, user), STATUSES.map((s) => inStatus[s]), "no report changed");
      assert.equal(await transitionsTotal(server.url), before);
      const events = await eventsUntilMarker(api, user, es, setupEvents);
      assert.deepEqual(events.map((e) => e.type), [CREATED], "no event but the marker's");
    });

    it("MalformedRequestsAnswer400WithErrorAndDetail", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const report = await createOk(api, user);
      await es.waitEvents(1, { type: CREATED, ...WAIT });
      const id = report.reportId;
      const okUrl = `/v4/report?user_id=${user}`;
      const json = "application/json";
      const cases = [
        ["POST without user_id", "POST", "/v4/new/report"],
        ["POST with an empty user_id", "POST", "/v4/new/report?user_id="],
        ["POST with a user_id that is no UUID", "POST", "/v4/new/report?user_id=not-a-uuid"],
        ["POST with a non-hex user_id", "POST", `/v4/new/report?user_id=${user.slice(0, -1)}g`],
        ["POST with a braced user_id", "POST", `/v4/new/report?user_id={${user}}`],
        ["POST with a user_id without dashes", "POST", `/v4/new/report?user_id=${user.replace(/-/g, "")}`],
        ["POST with a truncated user_id", "POST", `/v4/new/report?user_id=${user.slice(0, 35)}`],
        ["GET list without user_id", "GET", "/v4/reports"],
        ["GET list with a bad user_id", "GET", "/v4/reports?user_id=12345"],
        ["GET stream with a bad user_id", "GET", "/v4/sse?user_id=nope"],
        ["GET stream without user_id", "GET", "/v4/sse"],
        ["PUT with a bad user_id", "PUT", "/v4/report?user_id=bad", json, JSON.stringify({ id, status: "queued" })],
        ["PUT without user_id", "PUT", "/v4/report", json, JSON.stringify({ id, status: "queued" })],
        ["PUT without Content-Type", "PUT", okUrl, null, JSON.stringify({ id, status: "queued" })],
        ["PUT as text/plain", "PUT", okUrl, "text/plain", JSON.stringify({ id, status: "queued" })],
        ["PUT as a form", "PUT", okUrl, "application/x-www-form-urlencoded", `id=${id}&status=queued`],
        ["PUT as application/jsonx", "PUT", okUrl, "application/jsonx", JSON.stringify({ id, status: "queued" })],
        ["PUT with broken JSON", "PUT", okUrl, json, `{"id": "${id}", "status": `],
        ["PUT with an empty body", "PUT", okUrl, json, ""],
        ["PUT with a JSON array", "PUT", okUrl, json, JSON.stringify([id, "queued"])],
        ["PUT with a JSON string", "PUT", okUrl, json, JSON.stringify("queued")],
        ["PUT without id", "PUT", okUrl, json, JSON.stringify({ status: "queued" })],
        ["PUT with a numeric id", "PUT", okUrl, json, JSON.stringify({ id: 42, status: "queued" })],
        ["PUT with a malformed id", "PUT", okUrl, json, JSON.stringify({ id: "abc", status: "queued" })],
        ["PUT with an id one digit short", "PUT", okUrl, json, JSON.stringify({ id: id.slice(1), status: "queued" })],
        ["PUT without status", "PUT", okUrl, json, JSON.stringify({ id })],
        ["PUT with a null status", "PUT", okUrl, json, JSON.stringify({ id, status: null })],
        ["PUT with a numeric status", "PUT", okUrl, json, JSON.stringify({ id, status: 1 })],
        ["PUT with an unknown status", "PUT", okUrl, json, JSON.stringify({ id, status: "done" })],
        ["PUT with a padded status", "PUT", okUrl, json, JSON.stringify({ id, status: " queued" })],
        ["PUT with an empty status", "PUT", okUrl, json, JSON.stringify({ id, status: "" })],
      ];
      for (const [what, method, target, contentType, body] of cases) {
        const headers = contentType ? { "Content-Type": contentType } : {};
        const res = await request(`${server.url}${target}`, { method, headers, body });
        assert.equal(res.status, 400, `${what}: ${res.status} ${res.body}`);
        assert.match(res.headers["content-type"] ?? "", /^application\/json/, what);
        assert.equal(typeof res.json?.error, "string", `${what}: ${res.body}`);
        assert.ok(res.json.error.length > 0, what);
        assert.equal(typeof res.json.detail, "string", `${what}: ${res.body}`);
        assert.ok(res.json.detail.length > 0, what);
      }

      assert.deepEqual(await listOk(api, user), [report], "the report is unchanged");
      const events = await eventsUntilMarker(api, user, es, 1);
      assert.deepEqual(events.map((e) => e.type), [CREATED], "no event but the marker's");
    });

    it("JsonContentTypeIsAcceptedWithParametersAndInAnyCase", T, async () => {
      const user = randomUUID();
      const report = await createOk(api, user);
      let res = await api.put(user, report.reportId, "queued", { contentType: "application/json; charset=utf-8" });
      assert.equal(res.status, 200, res.body);
      res = await api.put(user, report.reportId, "processing", { contentType: "Application/JSON" });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.json.reportStatus, "processing");
    });

    it("UnknownReportAndAnotherUsersReportAnswer404AndStayUnchanged", T, async () => {
      const owner = randomUUID();
      const intruder = randomUUID();
      const ownerStream = await stream(owner);
      const intruderStream = await stream(intruder);
      const report = await createOk(api, owner);
      await ownerStream.waitEvents(1, { type: CREATED, ...WAIT });
      const before = await transitionsTotal(server.url);

      for (const status of ["queued", "canceled"]) { // both valid from pending
        const res = await api.put(intruder, report.reportId, status);
        assert.equal(res.status, 404, res.body);
        assert.equal(typeof res.json?.error, "string", res.body);
        assert.equal(typeof res.json.detail, "string", res.body);
        assert.doesNotMatch(res.body, /pending/, "another user's report must not be described");
      }
      const unknown = await api.put(owner, randomUUID(), "queued");
      assert.equal(unknown.status, 404, unknown.body);
      assert.equal(typeof unknown.json?.error, "string", unknown.body);

      assert.deepEqual(await listOk(api, owner), [report], "the owner's report is unchanged");
      assert.deepEqual(await listOk(api, intruder), []);
      assert.equal(await transitionsTotal(server.url), before);
      assert.deepEqual((await eventsUntilMarker(api, owner, ownerStream, 1)).map((e) => e.type), [CREATED]);
      assert.deepEqual((await eventsUntilMarker(api, intruder, intruderStream, 0)).map((e) => e.type), [CREATED]);
      // And the owner can still move it.
      assert.equal((await putOk(api, owner, report.reportId, "queued")).reportStatus, "queued");
    });

    it("FiftyConcurrentConflictingPutsHaveExactlyOneWinnerAndOneEvent", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const report = await createOk(api, user);
      await putOk(api, user, report.reportId, "queued");
      await putOk(api, user, report.reportId, "processing");
      await es.waitEvents(2, { type: UPDATE, ...WAIT });
      const before = await transitionsTotal(server.url);

      // From processing, completed and failed exclude each other: whichever lands first, every
      // other request is an invalid transition (from pending, queued then canceled would both
      // be valid in a row).
      const wanted = Array.from({ length: 50 }, (_, i) => (i % 2 ? "failed" : "completed"));
      const answers = await Promise.all(wanted.map((status) => api.put(user, report.reportId, status)));
      const winners = answers.filter((r) => r.status === 200);
      const losers = answers.filter((r) => r.status === 409);
      assert.equal(winners.length, 1, `statuses: ${answers.map((r) => r.status).join(",")}`);
      assert.equal(losers.length, 49, `statuses: ${answers.map((r) => r.status).join(",")}`);
      const winner = winners[0].json;
      answers.forEach((res, i) => {
        if (res.status === 409) {
          assert.equal(res.json.currentStatus, winner.reportStatus, res.body);
          assert.equal(res.json.requestedStatus, wanted[i], res.body);
        } else {
          assert.equal(res.json.reportStatus, wanted[i]);
        }
      });

      await es.waitEvents(3, { type: UPDATE, ...WAIT });
      const events = await eventsUntilMarker(api, user, es, 3);
      assert.deepEqual(events.map((e) => e.type), [UPDATE, CREATED], "exactly one status event");
      assert.deepEqual(updates(es)[2], { id: report.reportId, status: winner.reportStatus, updatedAt: winner.updatedAt });
      assert.deepEqual((await listOk(api, user))[0], winner);
      assert.equal(await transitionsTotal(server.url) - before, 1);
    });

    it("TwoServersOnOneStoreRaceOnOneReportWithExactlyOneWinner", {
      ...T,
      skip: store === "sqlite" ? "the SQLite store lives in one process's data directory; several nodes need DynamoDB" : false,
    }, async () => {
      const second = await startServer(backend.args);
      try {
        const api2 = reportsApi(second.url);
        const user = randomUUID();
        const es1 = await stream(user);
        const es2 = await openStream(second.url, user);
        streams.push(es2);
        const report = await createOk(api, user);
        // The second process sees what the first stored, and moves it on.
        assert.deepEqual(await listOk(api2, user), [report]);
        await putOk(api2, user, report.reportId, "queued");
        await putOk(api, user, report.reportId, "processing");
        await es1.waitEvents(1, { type: UPDATE, ...WAIT });
        await es2.waitEvents(1, { type: UPDATE, ...WAIT });
        const from1 = es1.events.length;
        const from2 = es2.events.length;
        const before = [await transitionsTotal(server.url), await transitionsTotal(second.url)];

        const plan = Array.from({ length: 50 }, (_, i) => ({
          api: i % 2 ? api2 : api, server: i % 2 ? 2 : 1, status: i % 4 < 2 ? "completed" : "failed" }));
        const answers = await Promise.all(plan.map((p) => p.api.put(user, report.reportId, p.status)));
        const winners = answers.map((r, i) => ({ r, p: plan[i] })).filter(({ r }) => r.status === 200);
        assert.equal(winners.length, 1, `statuses: ${answers.map((r) => r.status).join(",")}`);
        assert.equal(answers.filter((r) => r.status === 409).length, 49,
                     `statuses: ${answers.map((r) => r.status).join(",")}`);
        const winner = winners[0].r.json;
        for (const res of answers.filter((r) => r.status === 409)) assert.equal(res.json.currentStatus, winner.reportStatus);

        // Each process publishes to its own clients: the winner's stream has the one event.
        const winnerStream = winners[0].p.server === 1 ? es1 : es2;
        await winnerStream.waitEvents(2, { type: UPDATE, ...WAIT });
        const events1 = await eventsUntilMarker(api, user, es1, from1);
        const events2 = await eventsUntilMarker(api2, user, es2, from2);
        assert.equal(events1.filter((e) => e.type === UPDATE).length + events2.filter((e) => e.type === UPDATE).length, 1,
                     `events: 1=${es1.describe()} 2=${es2.describe()}`);
        assert.deepEqual(updates(winnerStream).at(-1), { id: report.reportId, status: winner.reportStatus, updatedAt: winner.updatedAt });
        const after = [await transitionsTotal(server.url), await transitionsTotal(second.url)];
        assert.equal(after[0] - before[0] + after[1] - before[1], 1);
        for (const a of [api, api2]) assert.deepEqual((await listOk(a, user))[0], winner);
      } finally {
        await second.dispose();
      }
    });

    it("ResumeFromLastEventIdReplaysMissedReportEvents", T, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const report = await createOk(api, user);
      const queued = await putOk(api, user, report.reportId, "queued");
      await es.waitEvents(1, { type: UPDATE, ...WAIT });
      const seen = es.events.at(-1).lastEventId;
      es.close();
      const processing = await putOk(api, user, report.reportId, "processing");
      const completed = await putOk(api, user, report.reportId, "completed");
      const missed = [processing, completed].map((r) => JSON.stringify({ id: r.reportId, status: r.reportStatus, updatedAt: r.updatedAt }));

      // The Last-Event-ID header.
      const byHeader = await sse(`${server.url}/v4/sse?user_id=${user}`, { headers: { "Last-Event-ID": seen } });
      try {
        assert.equal(byHeader.status, 200);
        await byHeader.waitEvents(2, { type: UPDATE, ...WAIT });
        assert.deepEqual(byHeader.events.map((e) => e.type), [UPDATE, UPDATE]);
        assert.deepEqual(byHeader.data(UPDATE).map((d) => JSON.stringify(JSON.parse(d))), missed);
        assert.ok(Number(byHeader.events[0].idField) > Number(seen));
      } finally {
        byHeader.close();
      }
      // ?lastEventId= on a real EventSource, and `earliest` for everything still in history.
      const byQuery = await stream(user, `&lastEventId=${seen}`);
      await byQuery.waitEvents(2, { type: UPDATE, ...WAIT });
      assert.deepEqual(updates(byQuery).map((u) => JSON.stringify(u)), missed);
      const all = await sse(`${server.url}/v4/sse?user_id=${user}`, { headers: { "Last-Event-ID": "earliest" } });
      try {
        await all.waitEvents(3, { type: UPDATE, ...WAIT });
        assert.deepEqual(all.events.map((e) => e.type), [CREATED, UPDATE, UPDATE, UPDATE]);
        assert.deepEqual(JSON.parse(all.data(CREATED)[0]), report);
        assert.deepEqual(JSON.parse(all.data(UPDATE)[0]).updatedAt, queued.updatedAt);
      } finally {
        all.close();
      }
    });

    it("UpdateReportStatusScriptPrintsTheAnswerAndExitsNonZeroOnErrors", {
      ...T, skip: haveCurl ? false : "curl is not installed",
    }, async () => {
      const user = randomUUID();
      const es = await stream(user);
      const report = await createOk(api, user);
      await es.waitEvents(1, { type: CREATED, ...WAIT });
      const env = { SSEHUB_URL: server.url };

      const ok = await runScript([user, report.reportId, "queued"], env);
      assert.equal(ok.code, 0, `stdout=${ok.stdout} stderr=${ok.stderr}`);
      const lines = ok.stdout.trimEnd().split("\n");
      assert.equal(lines[0], `sending: {"id":"${report.reportId}","status":"queued"}`);
      const answer = JSON.parse(lines[1]);
      assert.equal(answer.reportStatus, "queued");
      assert.equal(answer.reportId, report.reportId);
      await es.waitEvents(1, { type: UPDATE, ...WAIT });
      assert.deepEqual(updates(es), [{ id: report.reportId, status: "queued", updatedAt: answer.updatedAt }]);

      const conflict = await runScript([user, report.reportId, "completed"], env);
      assert.notEqual(conflict.code, 0, conflict.stdout);
      assert.match(conflict.stdout, /^sending: /);
      const refusal = JSON.parse(conflict.stdout.trimEnd().split("\n")[1]);
      assert.equal(refusal.currentStatus, "queued");
      assert.equal(refusal.requestedStatus, "completed");
      assert.match(conflict.stderr, /409/);

      const missing = await runScript([user, randomUUID(), "queued"], env);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /404/);
      const badStatus = await runScript([user, report.reportId, "done"], env);
      assert.notEqual(badStatus.code, 0);
      assert.match(badStatus.stderr, /400/);
      const usage = await runScript([user, report.reportId], env);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /usage/);
      const unreachable = await runScript([user, report.reportId, "processing"], { SSEHUB_URL: `http://127.0.0.1:${await freePort()}` });
      assert.notEqual(unreachable.code, 0);

      assert.equal((await listOk(api, user))[0].reportStatus, "queued", "only the first call changed it");
      const events = await eventsUntilMarker(api, user, es, 2);
      assert.deepEqual(events.map((e) => e.type), [CREATED]);
    });

    it("RestartLosesNoReportAndResumeAfterRestartReplaysTheEvents", { timeout: 60_000 }, async () => {
      const user = randomUUID();
      const es = await stream(user); // stays open: the EventSource reconnects by itself
      const a = await createOk(api, user);
      const b = await createOk(api, user);
      await putOk(api, user, a.reportId, "queued");
      await putOk(api, user, b.reportId, "canceled");
      await es.waitEvents(2, { type: UPDATE, ...WAIT });
      const listed = await listOk(api, user);
      const history = es.events.map((e) => [e.type, e.lastEventId, e.data]);

      await server.restart(); // SIGTERM, same port and data directory
      assert.deepEqual(await listOk(api, user), listed, "reports survive a restart");
      const resumed = await sse(`${server.url}/v4/sse?user_id=${user}`, { headers: { "Last-Event-ID": history[0][1] } });
      try {
        await resumed.waitEvents(2, { type: UPDATE, ...WAIT });
        await resumed.waitEvents(1, { type: CREATED, ...WAIT });
        assert.deepEqual(resumed.events.map((e) => [e.type, e.idField, e.data]), history.slice(1));
      } finally {
        resumed.close();
      }
      // The EventSource that lived through the restart gets the next change exactly once.
      const processing = await putOk(api, user, a.reportId, "processing");
      await es.waitEvents(3, { type: UPDATE, timeout: 15_000 });
      assert.deepEqual(updates(es).at(-1), { id: a.reportId, status: "processing", updatedAt: processing.updatedAt });
      assert.equal(es.events.length, history.length + 1, es.describe());
      assert.ok(es.requests.length >= 2, "the EventSource reconnected");
      assert.ok(Number(es.events.at(-1).lastEventId) > Number(history.at(-1)[1]), "ids continue after the restart");

      // A crash after a 200 loses nothing either: the answer came after the write was durable.
      const completed = await putOk(api, user, a.reportId, "completed");
      await server.kill9();
      await server.start();
      const afterCrash = await listOk(api, user);
      assert.deepEqual(afterCrash, [completed, listed[1]]);
      const everything = await sse(`${server.url}/v4/sse?user_id=${user}`, { headers: { "Last-Event-ID": "0" } });
      try {
        await everything.waitEvents(4, { type: UPDATE, ...WAIT });
        assert.deepEqual(everything.events.map((e) => e.type), [CREATED, CREATED, UPDATE, UPDATE, UPDATE, UPDATE]);
        assert.deepEqual(JSON.parse(everything.data(UPDATE).at(-1)),
                         { id: a.reportId, status: "completed", updatedAt: completed.updatedAt });
      } finally {
        everything.close();
      }
    });

    it("StopDuringChangesLeavesNoEventToRepublishAfterRestart", { timeout: 60_000 }, async () => {
      // SIGTERM while changes are in flight: every change answered 200 has its event in
      // history and is marked published, so the recovery sweep of the next start (which
      // republishes whatever is still marked and older than its grace period) adds nothing.
      const user = randomUUID();
      const reports = await Promise.all(Array.from({ length: 40 }, () => createOk(api, user)));
      const changes = reports.map((r) => api.put(user, r.reportId, "queued").catch((e) => ({ status: 0, error: e })));
      await Promise.race(changes);
      await server.stop("SIGTERM");
      const answers = await Promise.all(changes);
      const applied = answers.filter((a) => a.status === 200).map((a) => a.json);
      assert.ok(applied.length > 0, `statuses: ${answers.map((a) => a.status)}`);

      // What the sweep will find: the store's own flag (sqlite3 CLI, or a DynamoDB Scan).
      let stillMarked;
      if (store === "dynamodb") {
        stillMarked = (await scanAll(backend.endpoint, backend.table))
          .filter((item) => item.user_id.S === user && item.event_pending).length;
      } else if (haveSqlite3) {
        const query = spawnSync("sqlite3", [path.join(server.dataDir, "reports.db"),
                                            `SELECT count(*) FROM reports WHERE user_id = '${user}' AND event_pending = 1`],
                                { encoding: "utf8" });
        stillMarked = Number(query.stdout.trim());
      }
      assert.ok(stillMarked === undefined || stillMarked === 0,
                `${stillMarked} of ${applied.length} reports changed with a 200 are still marked unpublished ` +
                "after a clean stop: the next start's recovery sweep will publish their events again");

      // What a client sees. Nothing can be awaited (a second event must NOT come): wait out
      // the sweep's grace period, restart, and read the user's whole history.
      const newest = Math.max(...applied.map((r) => ts(r.updatedAt)));
      await sleep(Math.max(0, newest + SWEEP_GRACE_MS + 300 - Date.now()));
      await server.start();
      const replay = await sse(`${server.url}/v4/sse?user_id=${user}`, { headers: { "Last-Event-ID": "0" } });
      try {
        const marker = await createOk(api, user);
        await replay.waitFor((c) => c.data(CREATED).some((d) => JSON.parse(d).reportId === marker.reportId),
                             { ...WAIT, what: "the marker report" });
        const perReport = new Map();
        for (const u of updates(replay)) perReport.set(u.id, (perReport.get(u.id) ?? 0) + 1);
        const notOnce = applied.filter((r) => perReport.get(r.reportId) !== 1);
        assert.equal(notOnce.length, 0, `${notOnce.length} of ${applied.length} changes answered 200 have ` +
                                        `${notOnce.map((r) => perReport.get(r.reportId) ?? 0).join(",")} events instead of 1`);
      } finally {
        replay.close();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// DynamoDB unreachable: a dynalite of the test's own, so stopping it disturbs nobody else.

describe("v4 reports when DynamoDB is down", () => {
  let dynalite;
  let server;
  const table = uniqueTableName("ssehub_outage");
  const streams = [];

  before(async () => {
    dynalite = await PrivateDynalite.create(); // a port and a directory; not started yet
  });
  after(async () => {
    for (const es of streams) es.close();
    await server?.dispose();
    await dynalite?.dispose();
  });

  const readyz = async () => request(`${server.url}/readyz`, { timeout: 5_000 });
  const readiness = (status, what) => eventually(async () => (await readyz()).status === status,
                                                 { timeout: 6_000, interval: 100, what });
  function assertStoreUnavailable(res, what) {
    assert.equal(res.status, 503, `${what}: ${res.status} ${res.body}`);
    assert.ok(res.headers["retry-after"], `${what}: Retry-After`);
    assert.match(res.headers["content-type"] ?? "", /^application\/json/, what);
    assert.equal(res.json?.error, "store_unavailable", `${what}: ${res.body}`);
    assert.match(res.json.detail, /DynamoDB/, `${what}: the error names the store: ${res.body}`);
  }

  it("OutageAnswers503FlipsReadyzAndLeavesNothingHalfWritten", { timeout: 60_000 }, async () => {
    // Nothing listens on the endpoint yet: the server starts anyway and refuses report calls.
    server = await startServer(["--store", "dynamodb", "--dynamodb-endpoint", dynalite.endpoint,
                                "--dynamodb-table", table, "--store-timeout-ms", "1500"]);
    const api = reportsApi(server.url);
    const user = randomUUID();
    assertStoreUnavailable(await api.create(user), "POST while down");
    assertStoreUnavailable(await api.list(user), "GET while down");
    assertStoreUnavailable(await api.put(user, randomUUID(), "queued"), "PUT while down");
    await readiness(503, "/readyz to answer 503 while the store is down");
    const notReady = await readyz();
    assert.equal(notReady.json?.checks?.store, "unavailable", notReady.body);

    // The store comes up: service resumes without a restart of ssehub.
    await dynalite.start();
    await createReportTable(dynalite.endpoint, table);
    await readiness(200, "/readyz to answer 200 once the store is back");
    const es = await openStream(server.url, user);
    streams.push(es);
    const report = await createOk(api, user);
    const queued = await putOk(api, user, report.reportId, "queued");
    await es.waitEvents(1, { type: UPDATE, ...WAIT });
    // Its event is published and marked so: nothing is left for the recovery sweep.
    await eventually(async () => (await scanAll(dynalite.endpoint, table)).every((item) => !item.event_pending),
                     { timeout: 5_000, what: "the queued event to be marked published" });

    // The store goes away mid-life.
    await dynalite.stop("SIGKILL");
    assertStoreUnavailable(await api.put(user, report.reportId, "processing"), "PUT during the outage");
    assertStoreUnavailable(await api.create(user), "POST during the outage");
    assertStoreUnavailable(await api.list(user), "GET during the outage");
    await readiness(503, "/readyz to answer 503 during the outage");

    await dynalite.start(); // same port, same data
    await readiness(200, "/readyz to answer 200 after the outage");
    assert.deepEqual(await listOk(api, user), [queued], "the refused PUT and POST left no trace");
    const items = await scanAll(dynalite.endpoint, table);
    assert.equal(items.length, 1, JSON.stringify(items));
    assert.equal(items[0].status.S, "queued");
    assert.equal(items[0].event_pending, undefined, JSON.stringify(items[0]));

    // No orphan event: the next event after `queued` is the change made now.
    const processing = await putOk(api, user, report.reportId, "processing");
    await es.waitEvents(2, { type: UPDATE, ...WAIT });
    assert.deepEqual(es.events.map((e) => e.type), [CREATED, UPDATE, UPDATE]);
    assert.deepEqual(updates(es), [
      { id: report.reportId, status: "queued", updatedAt: queued.updatedAt },
      { id: report.reportId, status: "processing", updatedAt: processing.updatedAt },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// DynamoDB answers lost on the way back: the write happened, ssehub did not hear of it.

describe("v4 reports when a DynamoDB answer is lost", () => {
  let dynalite;
  let proxy;
  let server;
  let api;
  const table = uniqueTableName("ssehub_lost");
  const streams = [];
  const isStatusWrite = (operation, req) => operation === "UpdateItem" && /SET #status/.test(req?.UpdateExpression ?? "");
  /** The first call matching `match` gets `decision`; every other call passes. */
  const loseOnce = (match, decision) => {
    let armed = true;
    proxy.decide = (operation, req) => {
      if (!armed || !match(operation, req)) return "pass";
      armed = false;
      return decision;
    };
  };

  before(async () => {
    dynalite = await (await PrivateDynalite.create()).start();
    await createReportTable(dynalite.endpoint, table);
    proxy = await new DynamoDbProxy(dynalite.endpoint).start();
    server = await startServer(["--store", "dynamodb", "--dynamodb-endpoint", proxy.endpoint,
                                "--dynamodb-table", table, "--store-timeout-ms", "1500"]);
    api = reportsApi(server.url);
  });
  afterEach(() => {
    for (const es of streams.splice(0)) es.close();
    if (proxy) proxy.decide = () => "pass";
  });
  after(async () => {
    await server?.dispose();
    await proxy?.close();
    await dynalite?.dispose();
  });

  it("AWriteWhoseAnswerIsLostIsRetriedAndCountsOnce", T, async () => {
    const user = randomUUID();
    const es = await openStream(server.url, user);
    streams.push(es);
    loseOnce((operation) => operation === "PutItem", "drop");
    const report = await createOk(api, user);
    loseOnce(isStatusWrite, "drop");
    const queued = await putOk(api, user, report.reportId, "queued");
    assert.equal(queued.reportStatus, "queued");
    assert.deepEqual(proxy.calls.filter((c) => c.decision === "drop").map((c) => c.operation), ["PutItem", "UpdateItem"]);

    assert.deepEqual(await listOk(api, user), [queued]);
    const events = await eventsUntilMarker(api, user, es, 0);
    assert.deepEqual(events.map((e) => e.type), [CREATED, UPDATE, CREATED]);
    assert.deepEqual(updates(es), [{ id: report.reportId, status: "queued", updatedAt: queued.updatedAt }]);
  });

  it("AChangeAnswered503WhenTheStoreAnswerTimesOutWasNotApplied", T, async () => {
    const user = randomUUID();
    const es = await openStream(server.url, user);
    streams.push(es);
    const report = await createOk(api, user);
    await es.waitEvents(1, { type: CREATED, ...WAIT });
    loseOnce(isStatusWrite, "hang"); // DynamoDB applies it; the answer never comes
    const res = await api.put(user, report.reportId, "queued");
    if (res.status === 200) {
      // Also fine: ssehub found out that its write had been applied.
      assert.equal((await listOk(api, user))[0].reportStatus, "queued");
      assert.deepEqual((await eventsUntilMarker(api, user, es, 1)).map((e) => e.type), [UPDATE, CREATED]);
      return;
    }
    assert.equal(res.status, 503, res.body);
    assert.deepEqual(await listOk(api, user), [report], "a change answered 503 must not have been applied");
    assert.deepEqual((await eventsUntilMarker(api, user, es, 1)).map((e) => e.type), [CREATED]);
  });

  it("ACreateAnswered503WhenTheStoreAnswerTimesOutStoredNothing", T, async () => {
    const user = randomUUID();
    loseOnce((operation) => operation === "PutItem", "hang");
    const res = await api.create(user);
    if (res.status === 201) {
      assert.deepEqual(await listOk(api, user), [res.json]);
      return;
    }
    assert.equal(res.status, 503, res.body);
    assert.deepEqual(await listOk(api, user), [], "a create answered 503 must not have stored a report");
  });
});
