// ssehub started before its topics exist (a fresh broker, topics never created): it creates
// them with its configured partitions, and where it may not, a topic created later is found
// within seconds (librdkafka would look again only after 5 minutes by default). Consumer lag
// is exposed per partition.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  eventSource, metrics, metricsEventually, showServerLogsOnFailure, startServer, uniqueUser,
} from "./lib/server.mjs";
import {
  existingPartitionCount, ingestArgs, produce, skipped, uniqueName, useBroker, waitReady,
} from "./lib/kafka.mjs";

showServerLogsOnFailure();
useBroker();
const T = { timeout: 90_000 };

function freshNames(prefix) {
  return { group: uniqueName(`${prefix}-group`), v3Topic: uniqueName(`${prefix}-v3`), v4Topic: uniqueName(`${prefix}-v4`) };
}

describe("Kafka topics that do not exist yet", () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.dispose())));

  it("MissingTopicsAreCreatedAtStartWithTheConfiguredPartitionsAndReadAtOnce", T, async () => {
    const names = freshNames("create");
    assert.equal(await existingPartitionCount(names.v3Topic), 0);
    const server = await startServer([...ingestArgs(names), "--kafka-topic-partitions", "5"]);
    servers.push(server);
    await waitReady(server);
    // The broker would make a three-partition topic on its own: five say ssehub made them.
    await metricsEventually(server.url, async () => (await existingPartitionCount(names.v3Topic)) === 5 &&
                                                   (await existingPartitionCount(names.v4Topic)) === 5,
                            { timeout: 20_000, what: "both topics with 5 partitions" });
    const user = uniqueUser("fresh");
    const es = eventSource(`${server.url}/v3/sse?username=${user}`);
    try {
      await es.waitFor((c) => c.opens >= 1, { what: "the EventSource to open" });
      await produce(names.v3Topic, [`${user}:on a topic ssehub created`], { key: user });
      await es.waitEvents(1, { timeout: 20_000 });
      assert.deepEqual(es.data(), ["on a topic ssehub created"]);
      // And the v4 topic is consumed too: an unknown report is counted as skipped.
      const before = skipped(await metrics(server.url), "unknown_report");
      await produce(names.v4Topic, [JSON.stringify({ id: "0b7e1c5e-2f7a-4c41-9d55-3c1b2a4e8f10", status: "queued" })]);
      await metricsEventually(server.url, (m) => skipped(m, "unknown_report") === before + 1,
                              { timeout: 20_000, what: "the v4 record to be read" });
      // Lag per partition: every assigned partition has a series, at 0 once all is read.
      const m = await metricsEventually(server.url, (m) => {
        const series = [...m.keys()].filter((k) => k.startsWith("ssehub_kafka_consumer_lag{"));
        return series.length === 10 && series.every((k) => m.get(k) === 0) ? m : false;
      }, { timeout: 20_000, what: "a lag of 0 on each of the ten partitions" });
      assert.ok(m.get("ssehub_kafka_consumer_lag", { topic: names.v3Topic, partition: "0" }) === 0);
    } finally {
      es.close();
    }
  });

  it("ATopicCreatedLaterIsFoundWithinSecondsWhenSsehubMayNotCreateIt", T, async () => {
    const names = freshNames("later");
    // Three replicas on a one-broker cluster: the broker refuses to create the topics.
    const server = await startServer([...ingestArgs(names), "--kafka-topic-replication", "3"]);
    servers.push(server);
    await waitReady(server);
    await metricsEventually(server.url, () => server.logMatching(/cannot create topic/).length >= 2,
                            { timeout: 20_000, what: "both refusals logged" });
    const user = uniqueUser("later");
    const es = eventSource(`${server.url}/v3/sse?username=${user}`);
    try {
      await es.waitFor((c) => c.opens >= 1, { what: "the EventSource to open" });
      // Producing creates the topic if nothing did yet (the broker's auto-creation); ssehub
      // must find it within seconds, not at librdkafka's default 5-minute metadata refresh.
      const producedAt = Date.now();
      await produce(names.v3Topic, [`${user}:on a topic made later`], { key: user });
      await es.waitEvents(1, { timeout: 30_000 });
      assert.deepEqual(es.data(), ["on a topic made later"]);
      console.log(`# read ${Date.now() - producedAt} ms after the topic appeared`);
    } finally {
      es.close();
    }
  });
});
