// What the monitoring files (monitoring/) ask of ssehub: their PromQL queries, parsed with
// Prometheus's own grammar (@prometheus-io/lezer-promql), and the metric names and label
// values those queries select.

import fs from "node:fs";
import path from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import YAML from "yaml";
import { ROOT } from "../integration/lib/server.mjs";

export const MONITORING = path.join(ROOT, "monitoring");
export const RULES_FILE = path.join(MONITORING, "ssehub-alerts.yml");
export const RULES_TEST_FILE = path.join(MONITORING, "ssehub-alerts.test.yml");
export const DASHBOARD_FILE = path.join(MONITORING, "ssehub-dashboard.json");

/** The alerting rules: [{alert, expr, for, labels, annotations}]. */
export function loadRules() {
  const doc = YAML.parse(fs.readFileSync(RULES_FILE, "utf8"));
  return doc.groups.flatMap((group) => group.rules);
}

export function loadDashboard() {
  return JSON.parse(fs.readFileSync(DASHBOARD_FILE, "utf8"));
}

/** Every panel, those inside collapsed rows included. */
export function dashboardPanels(dashboard) {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/**
 * Every PromQL query of the dashboard: [{where, expr}]. A query variable's
 * `label_values(selector, label)` contributes its selector.
 */
export function dashboardQueries(dashboard) {
  const queries = [];
  for (const panel of dashboardPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const text = typeof variable.query === "string" ? variable.query : variable.query.query;
    const match = /^label_values\((.*),\s*\w+\)$/.exec(text);
    if (!match) throw new Error(`variable ${variable.name}: not label_values(selector, label): ${text}`);
    queries.push({ where: `variable ${variable.name}`, expr: match[1] });
  }
  return queries;
}

// Grafana's range variables, replaced by a duration before parsing or evaluating; the others
// ($job, $instance) stand inside label values, where PromQL sees plain strings.
const RANGE_VARIABLES = /\$__rate_interval|\$__interval|\$__range/g;

/** A dashboard query as Prometheus would receive it, with Grafana's variables given values. */
export function substituteGrafanaVariables(expr, { job = "$job", instance = "$instance", range = "1m" } = {}) {
  return expr.replace(RANGE_VARIABLES, range).replaceAll("$job", job).replaceAll("$instance", instance);
}

/**
 * The series selectors of a PromQL expression: [{name, matchers: [{label, op, value}]}].
 * Throws on a syntax error, naming where it is.
 */
export function selectors(expr) {
  const tree = parser.parse(expr);
  const found = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) {
      throw new Error(`PromQL syntax error at ${cursor.from}: ${JSON.stringify(expr)}`);
    }
    if (cursor.name === "VectorSelector") found.push(selectorAt(cursor.node, expr));
  } while (cursor.next());
  return found;
}

// A PromQL string literal's value: "..." has Go (here JSON-compatible) escapes; '...' and `...`
// are taken as they stand, which is enough for the monitoring files.
function stringValue(literal) {
  return literal.startsWith('"') ? JSON.parse(literal) : literal.slice(1, -1);
}

function selectorAt(node, expr) {
  const text = (n) => expr.slice(n.from, n.to);
  const identifier = node.getChild("Identifier");
  const matchers = [];
  const list = node.getChild("LabelMatchers");
  for (const matcher of list ? list.getChildren("UnquotedLabelMatcher") : []) {
    matchers.push({
      label: text(matcher.getChild("LabelName")),
      op: text(matcher.getChild("MatchOp")),
      value: stringValue(text(matcher.getChild("StringLiteral"))),
    });
  }
  const byName = matchers.find((m) => m.label === "__name__" && m.op === "=");
  return { name: identifier ? text(identifier) : byName?.value, matchers };
}

/**
 * Metric names and label values selected by `exprs`: {names: Set, labelValues: Map of
 * "name/label" to Set of values} for `=` matchers and `=~` matchers that are plain
 * alternatives (a|b|c). Labels in `skipLabels` (Prometheus's target labels) are left out.
 */
export function referencedSeries(exprs, { skipLabels = ["job", "instance"] } = {}) {
  const names = new Set();
  const labelValues = new Map();
  for (const expr of exprs) {
    for (const selector of selectors(expr)) {
      if (!selector.name) throw new Error(`a selector without a metric name in ${expr}`);
      names.add(selector.name);
      for (const { label, op, value } of selector.matchers) {
        if (skipLabels.includes(label) || label === "__name__") continue;
        let values;
        if (op === "=") values = [value];
        else if (op === "=~" && /^[\w]+(\|[\w]+)*$/.test(value)) values = value.split("|");
        else continue;
        const key = `${selector.name}/${label}`;
        if (!labelValues.has(key)) labelValues.set(key, new Set());
        for (const v of values) labelValues.get(key).add(v);
      }
    }
  }
  return { names, labelValues };
}

/**
 * The series of a Prometheus text exposition: {names: Set of sample names (histograms as
 * _bucket, _sum, _count), labels: Map of "name/label" to Set of values}.
 */
export function exposedSeries(text) {
  const names = new Set();
  const labels = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    names.add(match[1]);
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      const key = `${match[1]}/${pair[1]}`;
      if (!labels.has(key)) labels.set(key, new Set());
      labels.get(key).add(pair[2]);
    }
  }
  return { names, labels };
}
