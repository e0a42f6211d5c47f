// The monitoring files people import (monitoring/): the alerting rules pass promtool's check
// and their unit tests, the Grafana dashboard is a well-formed dashboard whose queries parse,
// and every metric and label value they name is exposed by a real ssehub with Kafka ingestion
// on. A real Prometheus then scrapes that server and evaluates every query and rule.
//
// Needs promtool and prometheus (Debian's prometheus package, scripts/bootstrap) and the
// Kafka broker of scripts/kafka (started here when it is not running).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import {
  eventually, freePort, metricsEventually, publishOk, request, run, showServerLogsOnFailure, sse,
  startServer, uniqueUser,
} from "../integration/lib/server.mjs";
import {
  createTopics, ingestArgs, ingested, produce, skipped, uniqueName, useBroker, waitReady,
} from "../integration/lib/kafka.mjs";
import {
  MONITORING, RULES_FILE, RULES_TEST_FILE, dashboardPanels, dashboardQueries,
  exposedSeries, loadDashboard, loadRules, referencedSeries, selectors, substituteGrafanaVariables,
} from "./promql.mjs";

showServerLogsOnFailure();

// Series that Prometheus adds to every target it scrapes; ssehub does not expose them.
const PROMETHEUS_SERIES = new Set(["up"]);

const rules = loadRules();
const dashboard = loadDashboard();
const ruleExprs = rules.map((rule) => rule.expr);
const dashboardExprs = dashboardQueries(dashboard).map((q) => q.expr);

describe("alerting rules (monitoring/ssehub-alerts.yml)", () => {
  it("pass promtool check rules", async () => {
    const res = await run("promtool", ["check", "rules", RULES_FILE]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it("pass their promtool unit tests, which cover every alert", async () => {
    const res = await run("promtool", ["test", "rules", RULES_TEST_FILE], { timeout: 120_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /SUCCESS/);
    // Every alert has at least one case where it is expected to fire.
    const tests = YAML.parse(await fs.readFile(RULES_TEST_FILE, "utf8")).tests;
    const firing = new Set(tests.flatMap((t) => t.alert_rule_test ?? [])
      .filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
    const untested = rules.map((r) => r.alert).filter((name) => !firing.has(name));
    assert.deepEqual(untested, [], "alerts no unit test expects to fire");
  });

  it("each carry a severity, a summary and a description", () => {
    for (const rule of rules) {
      assert.ok(["critical", "warning", "info"].includes(rule.labels?.severity), `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
      assert.ok(rule.annotations?.description, `${rule.alert}: description`);
    }
  });

  it("include a Kafka ingestion falling behind alert on the consumer lag", () => {
    const lag = rules.filter((r) => selectors(r.expr).some((s) => s.name === "ssehub_kafka_consumer_lag"));
    assert.ok(lag.some((r) => r.alert === "SsehubKafkaIngestionFallingBehind"), "no lag alert");
  });
});

describe("Grafana dashboard (monitoring/ssehub-dashboard.json)", () => {
  const panels = dashboardPanels(dashboard);
  const queryPanels = panels.filter((p) => p.type !== "row");

  it("is a dashboard Grafana imports: ids, layout, data source variable", () => {
    assert.equal(typeof dashboard.title, "string");
    assert.match(dashboard.uid, /^[\w-]{1,40}$/);
    assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    assert.ok(ids.every(Number.isInteger));
    const known = new Set(["row", "stat", "timeseries", "heatmap", "gauge", "table", "bargauge", "text"]);
    for (const panel of panels) {
      assert.ok(known.has(panel.type), `panel "${panel.title}": type ${panel.type}`);
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, `panel "${panel.title}": gridPos`);
    }
    // No two panels share a cell of the 24-column grid.
    const cells = new Map();
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const key = `${row}/${col}`;
          assert.ok(!cells.has(key), `panels "${cells.get(key)}" and "${panel.title}" overlap`);
          cells.set(key, panel.title);
        }
      }
    }
    // Imported into any Grafana: the Prometheus data source is a variable, not a fixed uid.
    const variables = dashboard.templating.list;
    const datasource = variables.find((v) => v.type === "datasource");
    assert.equal(datasource?.query, "prometheus");
    for (const panel of queryPanels) {
      assert.equal(panel.datasource?.uid, `\${${datasource.name}}`, `panel "${panel.title}": data source`);
      assert.ok(panel.targets.length > 0, `panel "${panel.title}" has a query`);
      const refIds = panel.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel "${panel.title}": refIds`);
      for (const target of panel.targets) {
        assert.equal(target.datasource?.uid, panel.datasource.uid, `panel "${panel.title}": target data source`);
      }
      assert.ok(panel.description, `panel "${panel.title}" says what it shows`);
    }
  });

  it("parses as PromQL, every query filtered by the job and instance variables", () => {
    for (const { where, expr } of dashboardQueries(dashboard)) {
      if (where.startsWith("variable")) continue;
      const found = selectors(substituteGrafanaVariables(expr));
      assert.ok(found.length > 0, `${where}: selects no series`);
      for (const selector of found) {
        const filter = (label, variable) => selector.matchers.some(
          (m) => m.label === label && m.op === "=~" && m.value === variable);
        assert.ok(filter("job", "$job") && filter("instance", "$instance"),
                  `${where}: ${selector.name} is not filtered by $job and $instance`);
      }
    }
  });

  it("shows streams, deliveries, overflows, rejections, latency, Kafka lag and restarts, history", () => {
    const { names } = referencedSeries(dashboardExprs.map((e) => substituteGrafanaVariables(e)));
    for (const name of [
      "up", "ssehub_streams_open", "ssehub_events_delivered_total", "ssehub_queue_overflows_total",
      "ssehub_requests_rejected_total", "ssehub_accept_to_write_seconds_bucket",
      "ssehub_kafka_consumer_lag", "ssehub_kafka_consumer_restarts_total",
      "ssehub_history_write_errors_total", "ssehub_history_wal_frames_behind",
    ]) {
      assert.ok(names.has(name), `the dashboard does not show ${name}`);
    }
  });
});

describe("streams by protocol (HTTP/1.1 and HTTP/2)", () => {
  it("the dashboard shows open streams by protocol, beside the HTTP/2 connections", () => {
    const exprs = dashboardQueries(dashboard).map((q) => q.expr);
    assert.ok(exprs.some((e) => /\bsum by \([^)]*\bprotocol\b[^)]*\) \(ssehub_streams_open\{/.test(e)),
              "no query splits ssehub_streams_open by protocol");
    assert.ok(exprs.some((e) => e.includes("ssehub_http2_connections_open")), "no query shows the HTTP/2 connections");
  });
});

describe("against a running ssehub with Kafka ingestion on", () => {
  useBroker();
  let server;
  let exposition;
  const topics = { v3Topic: uniqueName("mon-v3"), v4Topic: uniqueName("mon-v4"), group: uniqueName("mon") };

  before(async () => {
    await createTopics(topics.v3Topic, topics.v4Topic);
    // Records waiting before ssehub starts, more after: ingestion and lag both have data.
    await produce(topics.v3Topic, ["alice:before start", "no colon here"]);
    server = await startServer(ingestArgs(topics));
    await waitReady(server);
    const stream = await sse(`${server.url}/v3/sse?username=alice`);
    await produce(topics.v3Topic, ["alice:after start"]);
    await produce(topics.v4Topic, ['{"id": "not a uuid", "status": "queued"}']);
    await publishOk(server.url, uniqueUser("mon"), "over HTTP", { api: "v2" });
    await stream.waitEvents(2, { timeout: 20_000 });
    stream.close();
    await request(`${server.url}/no-such-route`);
    const m = await metricsEventually(server.url,
      (m) => ingested(m) >= 2 && skipped(m, "no_colon") >= 1 && skipped(m, "invalid_report_id") >= 1,
      { timeout: 20_000, what: "the records to be ingested and skipped" });
    exposition = m.text;
  }, { timeout: 90_000 });

  after(async () => {
    await server?.dispose();
  });

  it("exposes every metric the dashboard and the rules name", async () => {
    const { names } = referencedSeries([...ruleExprs, ...dashboardExprs.map((e) => substituteGrafanaVariables(e))]);
    const wanted = [...names].filter((name) => !PROMETHEUS_SERIES.has(name)).sort();
    // Some series appear only once the consumer has its partitions: wait for them a while.
    let missing = [];
    try {
      await eventually(async () => {
        const res = await request(`${server.url}/metrics`);
        exposition = res.body;
        const exposed = exposedSeries(exposition).names;
        missing = wanted.filter((name) => !exposed.has(name));
        return missing.length === 0;
      }, { timeout: 20_000, interval: 500, what: "every referenced metric" });
    } catch {
      // The assertion below names what is missing.
    }
    assert.deepEqual(missing, [], "metrics named by monitoring/ that ssehub does not expose");
  });

  it("exposes every label value the dashboard and the rules select", () => {
    const { labelValues } = referencedSeries([...ruleExprs, ...dashboardExprs.map((e) => substituteGrafanaVariables(e))]);
    const exposed = exposedSeries(exposition).labels;
    const unknown = [];
    for (const [key, values] of labelValues) {
      for (const value of values) {
        if (!exposed.get(key)?.has(value)) unknown.push(`${key}="${value}"`);
      }
    }
    assert.ok(labelValues.size > 0, "the files select some label values (reason=...)");
    assert.deepEqual(unknown, [], "label values no exposed series carries");
  });

  it("labels the stream and request series by protocol, and only so", () => {
    for (const name of ["ssehub_streams_open", "ssehub_events_delivered_total", "ssehub_queue_overflows_total",
                        "ssehub_http_requests_total"]) {
      for (const protocol of ["http/1.1", "h2"])
        assert.match(exposition, new RegExp(`^${name}\\{protocol="${protocol}"\\} \\d+$`, "m"), `${name} ${protocol}`);
      // Beside its labelled series, an unlabelled total would be counted twice by sum().
      assert.doesNotMatch(exposition, new RegExp(`^${name} `, "m"), name);
    }
  });

  it("is scraped by a real Prometheus that evaluates every dashboard query and rule", async (t) => {
    const prometheus = await startPrometheus(t, server.port);
    const api = async (endpoint, params = {}) => {
      const url = `${prometheus.url}/api/v1/${endpoint}?${new URLSearchParams(params)}`;
      const res = await request(url);
      assert.equal(res.json?.status, "success", `${endpoint} ${JSON.stringify(params)}: ${res.body}`);
      return res.json.data;
    };
    // A few scrapes, so that rates over the last seconds have samples.
    await eventually(async () => {
      const data = await api("query", { query: 'count_over_time(up{job="ssehub"}[1m])' });
      return data.result.length === 1 && Number(data.result[0].value[1]) >= 3;
    }, { timeout: 30_000, interval: 250, what: "three scrapes of ssehub" });

    // Prometheus parsed the whole exposition: it holds every ssehub series the server shows.
    const scraped = new Set((await api("query", { query: 'count by (__name__) ({job="ssehub"})' }))
      .result.map((r) => r.metric.__name__));
    const exposed = [...exposedSeries(exposition).names];
    assert.deepEqual(exposed.filter((name) => !scraped.has(name)), [], "exposed but not scraped");

    for (const { where, expr } of dashboardQueries(dashboard)) {
      const query = substituteGrafanaVariables(expr, { job: "ssehub", instance: ".*", range: "30s" });
      const data = await api("query", { query });
      assert.ok(Array.isArray(data.result), `${where}: ${query}`);
    }
    const totalRules = rules.length;
    await eventually(async () => {
      const groups = (await api("rules")).groups;
      const evaluated = groups.flatMap((g) => g.rules).filter((r) => r.lastEvaluation && !r.lastEvaluation.startsWith("0001"));
      return evaluated.length === totalRules;
    }, { timeout: 20_000, interval: 250, what: "every rule to be evaluated" });
    const loaded = (await api("rules")).groups.flatMap((g) => g.rules);
    assert.deepEqual(loaded.map((r) => r.name).sort(), rules.map((r) => r.alert).sort());
    for (const rule of loaded) assert.equal(rule.health, "ok", `${rule.name}: ${rule.lastError}`);
  });
});

/** Debian's prometheus on a free port, scraping ssehub every 500 ms with the rules loaded. */
async function startPrometheus(t, ssehubPort) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-prometheus-"));
  const port = await freePort();
  const config = {
    global: { scrape_interval: "500ms", evaluation_interval: "500ms" },
    rule_files: [path.join(MONITORING, "ssehub-alerts.yml")],
    scrape_configs: [{ job_name: "ssehub", static_configs: [{ targets: [`127.0.0.1:${ssehubPort}`] }] }],
  };
  await fs.writeFile(path.join(dir, "prometheus.yml"), YAML.stringify(config));
  const child = spawn("prometheus", [
    `--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.once("close", resolve));
  t.after(async () => {
    child.kill("SIGTERM");
    await exited;
    await fs.rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await eventually(async () => (await request(`${url}/-/ready`)).status === 200,
                     { timeout: 20_000, interval: 100, what: "prometheus to be ready" });
  } catch (e) {
    throw new Error(`${e.message}\n${log}`);
  }
  return { url };
}
