// DevRev's official TypeScript SDK against a running incidentd: every incident operation (the POST and the GET
// forms of get, list and group) and the objects an incident points at, through the SDK's own typed methods.
//
// Compiled with `tsc --strict` (so every field read here is one the SDK's types declare) and run by
// tests/clients/test_typescript_sdk.py, which also validates every recorded answer against DevRev's spec.
// Environment: INCIDENTD_URL, INCIDENTD_TOKEN, RECORD_TO (a file for the answers, one JSON object a line).

import { writeFileSync } from "node:fs";

import { betaSDK, client } from "@devrev/typescript-sdk";

type Recorded = { method: string; path: string; status: number; body: unknown };

const endpoint = required("INCIDENTD_URL");
const token = required("INCIDENTD_TOKEN");
const recordTo = required("RECORD_TO");
const api = client.setupBeta({ endpoint, token });
const recorded: Recorded[] = [];
api.instance.interceptors.response.use((response) => {
  const url = new URL(response.config.url ?? "", endpoint);
  recorded.push({
    method: (response.config.method ?? "get").toLowerCase(),
    path: url.pathname,
    status: response.status,
    body: response.data,
  });
  return response;
});

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
}

function expectStatus(response: { status: number }, status: number, what: string): void {
  check(response.status === status, `${what}: status ${response.status}, expected ${status}`);
}

let steps = 0;
function step(name: string): void {
  steps += 1;
  console.log(`ok ${steps} ${name}`);
}

async function uploadArtifact(name: string, content: string): Promise<string> {
  const prepared = await api.artifactsPrepare({ file_name: name, file_type: "text/plain" });
  expectStatus(prepared, 200, "artifacts.prepare");
  const form = new FormData();
  for (const field of prepared.data.form_data) form.append(field.key, field.value);
  form.append("file", new Blob([content], { type: "text/plain" }), name);
  const uploaded = await fetch(prepared.data.url, { method: "POST", body: form });
  check(uploaded.ok, `artifacts.upload: status ${uploaded.status}`);
  return prepared.data.id;
}

async function main(): Promise<void> {
  // Who am I (GET and POST forms); the token travels without "Bearer ", as the SDK sends it.
  const self = await api.devUsersSelf();
  expectStatus(self, 200, "dev-users.self");
  const selfPost = await api.devUsersSelfPost({});
  check(selfPost.data.dev_user.id === self.data.dev_user.id, "dev-users.self POST is the same user");
  const me = self.data.dev_user.id;
  step("dev-users.self");

  // Supporting objects.
  const tag = await api.tagsCreate({ name: "payments", description: "Payment flows" });
  expectStatus(tag, 201, "tags.create");
  check((await api.tagsGet({ id: tag.data.tag.id })).data.tag.name === "payments", "tags.get");
  check((await api.tagsList({ name: ["payments"] })).data.tags.length === 1, "tags.list by name");
  step("tags");

  const part = await api.partsCreate({ type: betaSDK.PartType.Product, name: "Checkout", owned_by: [me] });
  expectStatus(part, 201, "parts.create");
  check((await api.partsGet({ id: part.data.part.id })).data.part.name === "Checkout", "parts.get");
  check((await api.partsList({ type: [betaSDK.PartType.Product] })).data.parts.length === 1, "parts.list by type");
  step("parts");

  const account = await api.accountsCreate({ display_name: "Acme Corp", domains: ["acme.test"] });
  expectStatus(account, 201, "accounts.create");
  check((await api.accountsGet({ id: account.data.account.id })).data.account.display_name === "Acme Corp", "accounts.get");
  check((await api.accountsList({})).data.accounts.length === 1, "accounts.list");
  step("accounts");

  const article = await api.createArticle({
    title: "Payments runbook",
    owned_by: [me],
    resource: { url: "https://wiki.example.com/payments" },
  });
  expectStatus(article, 201, "articles.create");
  check((await api.getArticle({ id: article.data.article.id })).data.article.title === "Payments runbook", "articles.get");
  check((await api.listArticles({})).data.articles.length === 1, "articles.list");
  step("articles");

  const artifact = await uploadArtifact("timeline.txt", "12:00 alerts fired\n");
  const located = await api.artifactsLocate({ id: artifact });
  check(located.data.url.length > 0, "artifacts.locate gives a download url");
  const download = await fetch(located.data.url);
  check((await download.text()) === "12:00 alerts fired\n", "the artifact downloads as uploaded");
  check((await api.artifactsGet({ id: artifact })).data.artifact.id === artifact, "artifacts.get");
  step("artifacts");

  const stages = await api.customStagesList({});
  const stageNames = stages.data.result.map((stage) => stage.name);
  check(stageNames.includes("triage") && stageNames.includes("resolved"), `stages.custom.list: ${stageNames}`);
  const fixing = stages.data.result.find((stage) => stage.name === "fixing");
  check(fixing !== undefined, "the fixing stage exists");
  const states = await api.customStatesList({});
  check(states.data.result.some((state) => state.name === "open"), "states.custom.list");
  step("stages and states");

  // incidents.create, with every kind of reference.
  const created = await api.incidentsCreate({
    title: "Checkout is failing",
    body: "Card payments time out.",
    severity: 2,
    reported_by: 1,
    owned_by: [me],
    applies_to_parts: [part.data.part.id],
    tags: [{ tag_id: tag.data.tag.id, value: "eu" }],
    impact: { count: 2, customer_ids: [account.data.account.id] },
    pia: [article.data.article.id],
    artifacts: [artifact],
    identified_date: "2026-11-01T10:00:00.000Z",
  });
  expectStatus(created, 201, "incidents.create");
  const incident = created.data.incident;
  check(incident.title === "Checkout is failing", "title");
  check(incident.severity?.id === 2 && incident.severity?.label === "sev-1", "severity");
  check(incident.stage?.stage?.name === "triage", "a new incident starts in triage");
  check(incident.owned_by?.[0]?.id === me, "owned_by");
  check(incident.applies_to_parts?.[0]?.id === part.data.part.id, "applies_to_parts");
  check(incident.tags?.[0]?.tag.id === tag.data.tag.id && incident.tags?.[0]?.value === "eu", "tags");
  check(incident.impact?.customer_ids?.[0]?.id === account.data.account.id, "impact.customer_ids");
  check(incident.pia?.[0]?.id === article.data.article.id, "pia");
  check(incident.artifacts?.[0]?.id === artifact, "artifacts");
  const second = await api.incidentsCreate({
    title: "Search is slow",
    severity: 3,
    stage: { stage: fixing!.id },
    stage_validation_options: [betaSDK.StageValidationOptionForCreate.AllowNonStart],
  });
  expectStatus(second, 201, "incidents.create in a non-start stage");
  check(second.data.incident.stage?.stage?.name === "fixing", "created in fixing");
  step("incidents.create");

  // incidents.get: GET (query) and POST forms, DON and display id.
  const gotByQuery = await api.incidentsGet({ id: incident.id });
  check(gotByQuery.data.incident.display_id === incident.display_id, "incidents.get GET");
  const gotByPost = await api.incidentsGetPost({ id: incident.display_id ?? "" });
  check(gotByPost.data.incident.id === incident.id, "incidents.get POST with the display id");
  step("incidents.get (GET and POST)");

  // incidents.list: the SDK quotes GET array values, integers too (severity="2","3").
  const listed = await api.incidentsList({ severity: [2, 3], owned_by: [me], sort_by: ["created_date:asc"] });
  check(listed.data.incidents.map((i) => i.id).join() === incident.id, "incidents.list GET with filters");
  const listedPost = await api.incidentsListPost({ severity: [2, 3], sort_by: ["severity:desc"] });
  check(
    listedPost.data.incidents.map((i) => i.id).join() === [second.data.incident.id, incident.id].join(),
    "incidents.list POST sorted by severity",
  );
  const firstPage = await api.incidentsList({ limit: 1 });
  check(firstPage.data.incidents.length === 1 && firstPage.data.next_cursor !== undefined, "a first page");
  const nextPage = await api.incidentsList({ limit: 1, cursor: firstPage.data.next_cursor });
  check(nextPage.data.incidents[0]?.id !== firstPage.data.incidents[0]?.id, "the next page");
  const byStage = await api.incidentsList({ stage: [fixing!.id] });
  check(byStage.data.incidents.map((i) => i.id).join() === second.data.incident.id, "incidents.list by stage id");
  step("incidents.list (GET and POST, filters, cursors)");

  // incidents.group: GET and POST.
  const grouped = await api.incidentsGroup({ group_by: "severity", limit_per_group: 5 });
  const keys = grouped.data.groups.map((group) => group.key);
  check(
    keys.every((key) => key.type === betaSDK.FieldValueType.Int),
    `severity groups have int keys: ${JSON.stringify(keys)}`,
  );
  check(grouped.data.groups.every((group) => group.total === 1 && group.incidents.length === 1), "one per group");
  const groupedPost = await api.incidentsGroupPost({ group_by: "stage", owned_by: [me] });
  check(groupedPost.data.groups.length === 1, "incidents.group POST with a filter");
  check(groupedPost.data.groups[0]?.key.type === betaSDK.FieldValueType.Stage, "stage groups have stage keys");
  step("incidents.group (GET and POST)");

  // incidents.update: scalars, a stage move, and set semantics for collections.
  const updated = await api.incidentsUpdate({
    id: incident.id,
    title: "Checkout is failing in the EU",
    stage: { stage: "acknowledged" },
    tags: { set: [] },
    owned_by: { set: [me] },
    severity: 1,
  });
  expectStatus(updated, 200, "incidents.update");
  check(updated.data.incident.title === "Checkout is failing in the EU", "new title");
  check(updated.data.incident.stage?.stage?.name === "acknowledged", "moved to acknowledged");
  check(updated.data.incident.acknowledged_date !== undefined, "acknowledging stamps acknowledged_date");
  check(updated.data.incident.tags === undefined, "tags cleared");
  check(updated.data.incident.severity?.id === 1, "severity changed");
  step("incidents.update");

  // incidents.delete, then every read of it is 404.
  const deleted = await api.incidentsDelete({ id: incident.id });
  expectStatus(deleted, 200, "incidents.delete");
  check(JSON.stringify(deleted.data) === "{}", "delete answers {}");
  const gone = await api.incidentsGet({ id: incident.id }).then(
    () => 200,
    (error: { response?: { status: number } }) => error.response?.status ?? 0,
  );
  check(gone === 404, `a deleted incident is 404, got ${gone}`);
  const remaining = await api.incidentsListPost({});
  check(remaining.data.incidents.map((i) => i.id).join() === second.data.incident.id, "only the other one is left");
  step("incidents.delete");

  // timeline-entries: comment on the remaining incident, read its discussions and its history, edit, delete.
  const onIncident = second.data.incident;
  const commented = await api.timelineEntriesCreate({
    type: betaSDK.TimelineEntriesCreateRequestType.TimelineComment,
    object: onIncident.id,
    body: "Rolled back the deploy",
    labels: ["status-update"],
  });
  expectStatus(commented, 201, "timeline-entries.create");
  const comment = commented.data.timeline_entry;
  check(comment.type === betaSDK.TimelineEntryType.TimelineComment, "a comment");
  check(comment.object === onIncident.id && comment.object_display_id === onIncident.display_id, "on the incident");
  step("timeline-entries.create");
  const discussions = await api.timelineEntriesList({
    object: onIncident.id,
    collections: [betaSDK.TimelineEntriesCollection.Discussions],
    labels: ["status-update"],
  });
  check(discussions.data.timeline_entries.map((e) => e.id).join() === comment.id, "timeline-entries.list GET");
  const history = await api.timelineEntriesListPost({
    object: onIncident.display_id ?? "",
    collections: [betaSDK.TimelineEntriesCollection.Events],
  });
  const firstEvent = history.data.timeline_entries[0] as betaSDK.TimelineChangeEvent | undefined;
  check(firstEvent?.event?.type === betaSDK.TimelineChangeEventEventType.Created, "the history starts with created");
  step("timeline-entries.list (GET and POST)");
  const edited = await api.timelineEntriesUpdate({
    type: betaSDK.TimelineEntriesUpdateRequestType.TimelineComment,
    id: comment.id,
    body: "Rolled back deploy 42",
  });
  expectStatus(edited, 200, "timeline-entries.update");
  check((edited.data.timeline_entry as betaSDK.TimelineComment).body === "Rolled back deploy 42", "edited body");
  step("timeline-entries.update");
  const removed = await api.timelineEntriesDelete({ id: comment.id });
  expectStatus(removed, 200, "timeline-entries.delete");
  check(JSON.stringify(removed.data) === "{}", "timeline-entries.delete answers {}");
  const commentGone = await api.timelineEntriesGet({ id: comment.id }).then(
    () => 200,
    (error: { response?: { status: number } }) => error.response?.status ?? 0,
  );
  check(commentGone === 404, `a deleted comment is 404, got ${commentGone}`);
  step("timeline-entries.delete");

  await linkSteps(second.data.incident.id, part.data.part.id);

  writeFileSync(recordTo, recorded.map((entry) => JSON.stringify(entry)).join("\n") + "\n");
  console.log(`sdk walkthrough: ${steps} steps, ${recorded.length} answers recorded`);
}

// links: create, list (GET and POST, filters), get and delete, between incidents and a part.
async function linkSteps(incidentId: string, partId: string): Promise<void> {
  const other = await api.incidentsCreate({ title: "Payments degraded" });
  const related = await api.linksCreate({
    link_type: betaSDK.LinkType.IsRelatedTo,
    source: incidentId,
    target: other.data.incident.id,
  });
  expectStatus(related, 201, "links.create");
  const link = related.data.link;
  check(link.link_type === betaSDK.LinkType.IsRelatedTo, "link_type");
  check(link.source.id === incidentId && link.source.type === betaSDK.LinkEndpointType.Incident, "source");
  check(link.target.id === other.data.incident.id, "target");
  const toPart = await api.linksCreate({ link_type: betaSDK.LinkType.IsRelatedTo, source: incidentId, target: partId });
  expectStatus(toPart, 201, "links.create to a part");
  check(toPart.data.link.target.type === betaSDK.LinkEndpointType.Product, "a product end");
  step("links.create");

  const outbound = await api.linksList({
    object: incidentId,
    direction: betaSDK.LinksDirection.IsSource,
    link_type: [betaSDK.LinkType.IsRelatedTo, betaSDK.LinkType.IsParentOf],
  });
  check(
    outbound.data.links.map((l) => l.id).join() === [link.id, toPart.data.link.id].join(),
    "links.list GET by direction and link types",
  );
  const toParts = await api.linksListPost({ object: incidentId, object_types: [betaSDK.LinkEndpointType.Product] });
  check(toParts.data.links.map((l) => l.id).join() === toPart.data.link.id, "links.list POST by object type");
  const inbound = await api.linksList({ object: other.data.incident.id, direction: betaSDK.LinksDirection.IsTarget });
  check(inbound.data.links.map((l) => l.id).join() === link.id, "links.list of the target");
  check((await api.linksGet({ id: link.id })).data.link.id === link.id, "links.get GET");
  check((await api.linksGetPost({ id: link.id })).data.link.target.id === other.data.incident.id, "links.get POST");
  step("links.list and links.get");

  const deleted = await api.linksDelete({ id: link.id });
  expectStatus(deleted, 200, "links.delete");
  check(JSON.stringify(deleted.data) === "{}", "links.delete answers {}");
  const left = await api.linksListPost({ object: incidentId });
  check(left.data.links.map((l) => l.id).join() === toPart.data.link.id, "the deleted link is gone");
  step("links.delete");
}

main().catch((error: unknown) => {
  const response = (error as { response?: { status: number; data: unknown; config?: { url?: string } } }).response;
  if (response) {
    console.error(`HTTP ${response.status} from ${response.config?.url}: ${JSON.stringify(response.data)}`);
  }
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
