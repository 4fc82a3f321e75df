/**
 * The reliability matrix's harness (issue 16, docs/reliability.md, ADR 0025): a fleet of objects over a seeded
 * emulator world with foreign content around it, seeded fault mixes, the operator in-process or as a process that
 * can be SIGKILLed, and one `verify` that runs every invariant of test/support/invariants.ts over what the emulator
 * and the API server hold. Scenarios (matrix.test.ts, and the CI subset test/cluster/reliability-ci.test.ts) are
 * short functions over these pieces; a kind added later plugs in through `KindProbe` (see docs/reliability.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { seededRandom, type FaultSpec } from "../../emulator/faults.ts";
import { API_VERSION } from "../../src/api/v1alpha1/group.ts";
import type { KubeObject } from "../../src/api/v1alpha1/metadata.ts";
import type { BindingSpec } from "../../src/api/v1alpha1/binding.ts";
import type { JwtPolicySpec } from "../../src/api/v1alpha1/jwt-policy.ts";
import type { ApiRegistrationSpec } from "../../src/api/v1alpha1/api-registration.ts";
import {
  API_REGISTRATION_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
} from "../../src/controllers/resources.ts";
import { isNotFound, type KubeClient } from "../../src/runtime/client.ts";
import type { ResourceType as ResourceRef } from "../../src/runtime/resource.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { seedStandardWithV2Connection } from "../support/emulator.ts";
import {
  findStatusDisagreements,
  findUnconverged,
  findViolations,
  findWriteLoops,
  outcomeOf,
  readWorld,
  snapshotForeign,
  type BindingStatusView,
  type ForeignSnapshot,
  type InvariantSources,
  type ObservedObject,
  type World,
} from "../support/invariants.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Seeds, replay and the results table

/** The run's seed: RELIABILITY_SEED to replay, else drawn once per run and printed with every row. */
export const RUN_SEED = Number(process.env.RELIABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** `runner` is an npm script name, or a whole command (starting with `npx`) that takes `-t` directly. */
export function replayCommand(scenario: string, seed: number, runner = "test:reliability"): string {
  // vitest reads -t as a regular expression: names with "(ci)" or "(410)" must be escaped to match themselves.
  const pattern = scenario.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/'/g, "'\\''");
  const t = `-t '${pattern}'`;
  const cmd = runner.startsWith("npx ") ? `${runner} ${t}` : `npm run ${runner} -- ${t}`;
  return `RELIABILITY_SEED=${seed} ${cmd}`;
}

export interface Row {
  scenario: string;
  seed: number;
  faults: string;
  convergeMs: number | undefined;
  invariants: "held" | "BROKEN";
  note: string;
}

export const rows: Row[] = [];

export function formatTable(list: readonly Row[]): string {
  const head = ["scenario", "seed", "faults injected", "converged in", "invariants", "note"];
  const body = list.map((r) => [
    r.scenario,
    String(r.seed),
    r.faults,
    r.convergeMs === undefined ? "-" : `${(r.convergeMs / 1000).toFixed(1)} s`,
    r.invariants,
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

/** Prints the table and, when RELIABILITY_RESULTS names a file, writes it there too (docs/reliability.md). */
export function printTable(list: readonly Row[]): void {
  if (list.length === 0) return;
  const text = formatTable(list);
  console.log(`\nreliability matrix (seed ${RUN_SEED})\n${text}\n`);
  if (process.env.RELIABILITY_RESULTS) writeFileSync(process.env.RELIABILITY_RESULTS, `${text}\n`);
}

/**
 * Runs one scenario: records its row, and on failure rethrows with the seed and the exact command that replays it.
 * The body returns what it injected and how long convergence took.
 */
export async function scenario(
  name: string,
  seed: number,
  body: (rng: () => number) => Promise<{ faults: string; convergeMs?: number; note?: string }>,
  script?: string,
): Promise<void> {
  try {
    const r = await body(seededRandom(seed));
    rows.push({
      scenario: name,
      // The run seed: what RELIABILITY_SEED takes (the scenario's own seed is derived from it and its name).
      seed: RUN_SEED,
      faults: r.faults,
      convergeMs: r.convergeMs,
      invariants: "held",
      note: r.note ?? "",
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    rows.push({
      scenario: name,
      seed: RUN_SEED,
      faults: "?",
      convergeMs: undefined,
      invariants: "BROKEN",
      note: msg.split("\n")[0]!.slice(0, 80),
    });
    const err = new Error(
      `${msg}\n\nrun seed ${RUN_SEED} (scenario seed ${seed}); replay with:\n  ${replayCommand(name, RUN_SEED, script)}`,
    );
    if (e instanceof Error && e.stack)
      err.stack = `${err.message}\n${e.stack.split("\n").slice(1).join("\n")}`;
    throw err;
  }
}

/** A per-scenario seed derived from the run seed and the scenario's name, so `-t` replays one scenario alone. */
export function seedFor(name: string): number {
  let h = RUN_SEED >>> 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// Azure fault mixes

/**
 * The Azure fault mix at `rate`: each request meets a fault with probability about `rate`, spread over the kinds
 * issue 16 lists. Seeds are derived from `seed`, one per fault, so a run replays. Error bodies are the API's own
 * (emulator/http.ts); codes from /work/shared/docs and the ARM/Graph references cited in emulator/faults.ts.
 */
export function azureFaultMix(rate: number, seed: number): FaultSpec[] {
  const spread: Omit<FaultSpec, "probability" | "seed">[] = [
    { action: { kind: "status", status: 429, retryAfterSeconds: 1 } },
    { action: { kind: "status", status: 429 } },
    { action: { kind: "status", status: 500 } },
    { action: { kind: "status", status: 503, retryAfterMs: 200 } },
    { action: { kind: "reset" } },
    { action: { kind: "timeout" } },
    { action: { kind: "latency", ms: 400 } },
    { action: { kind: "mangle", add: { unexpectedProperty: { from: "a newer api-version" } } } },
  ];
  // Kinds that only make sense on some operations get the full rate there.
  const targeted: Omit<FaultSpec, "probability" | "seed">[] = [
    { match: { operation: "RoleAssignments_Create" }, action: { kind: "principalNotFound" } },
    { match: { operation: "AppRoleAssignedTo_Create" }, action: { kind: "principalNotFound" } },
    {
      match: { operation: "RoleAssignments_Create" },
      action: {
        kind: "status",
        status: 409,
        code: "RoleAssignmentExists",
        message: "The role assignment already exists.",
      },
    },
    { match: { operation: "*Policy*CreateOrUpdate" }, action: { kind: "status", status: 412 } },
    { match: { operation: "ServicePrincipals_*", method: "GET" }, action: { kind: "status", status: 404 } },
    { match: { operation: "Workflows_Get" }, action: { kind: "mangle", drop: ["principalId"] } },
    // Graph application operations (ApiRegistration, issue 13): Graph's 5xx and throttling on writes, and reads
    // that miss a just-made application (replication; docs/api-registration.md step 6).
    { match: { operation: "Applications_*", method: "PATCH" }, action: { kind: "status", status: 503 } },
    { match: { operation: "Applications_Create" }, action: { kind: "status", status: 429 } },
    { match: { operation: "Applications_Get" }, action: { kind: "status", status: 404 } },
    { match: { operation: "Applications_Delete" }, action: { kind: "status", status: 500 } },
    // Connection access policy writes (issue 14). Reads of the Standard app meet the spread above like any read.
    { match: { operation: "*AccessPolicies_CreateOrUpdate" }, action: { kind: "status", status: 500 } },
    { match: { operation: "*AccessPolicies_Delete" }, action: { kind: "status", status: 500 } },
  ];
  const each = 1 - Math.pow(1 - rate, 1 / spread.length);
  return [
    ...spread.map((f, i) => ({ ...f, probability: each, seed: (seed + i) >>> 0 })),
    ...targeted.map((f, i) => ({ ...f, probability: rate / 2, seed: (seed + 100 + i) >>> 0 })),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// The fleet: objects over a seeded world, with foreign content around them

export interface Env {
  kubeconfigPath: string;
  client: KubeClient;
  emu: RunningEmulator;
}

export interface Fleet {
  ns: string;
  recordsNs: string;
  ids: ScenarioIds;
  logicApps: string[];
  bindings: string[];
  policies: string[];
  /** ApiRegistration objects (issue 13) and what each declares. */
  registrations: string[];
  registrationUris: Record<string, { uri: string; deletionPolicy: "Orphan" | "Delete" }>;
  /** The identifier URI prefix the namespace's AzureAccessPolicy allows for registrations. */
  registrationPrefix: string;
  /** An application a person registered under that prefix (not owned by the operator): never adopted, never changed. */
  foreignAppUri: string;
  /** A Standard Logic App with a V2 connection (issue 14) and that connection's ID, when the fleet has kinds. */
  standardSite?: string;
  connectionId?: string;
  /** A user-assigned identity a person attached to logicApps[0] before the operator came. */
  humanUami: string;
  /** The foreign policy content the operator must keep, in order. */
  foreignPolicy: string;
  snapshot: ForeignSnapshot;
  /** Request-log sequence number when the fleet was made; the write-loop check starts there. */
  logStart: number;
  /** Log sequence numbers where the world changed behind the operator's back (see findWriteLoops). */
  changesAt: number[];
}

export const FOREIGN_POLICY = (fragment: string) =>
  `<policies><inbound><base /><rate-limit calls="100" renewal-period="60" /><include-fragment fragment-id="${fragment}" /><set-header name="x-team" exists-action="override"><value>orders</value></set-header></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`;

const KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

export async function lastLogSeq(emu: RunningEmulator): Promise<number> {
  const log = await emu.control.requestLog();
  return log.length ? log[log.length - 1]!.seq : 0;
}

/** Marks "the world changed behind the operator's back now" for the write-loop check. */
export async function markChange(env: Env, fleet: Fleet): Promise<void> {
  fleet.changesAt.push((await lastLogSeq(env.emu)) + 0.5);
}

/**
 * Seeds the world (emulator reset), foreign content, the namespaces and their AzureAccessPolicy, and creates
 * `bindings` bindings (one Logic App each) and, when `jwt`, one ApimJwtPolicy following the first binding.
 * Call before the operator starts, or with it running: the snapshot is taken before any object exists.
 */
export async function makeFleet(
  env: Env,
  o: { ns: string; recordsNs: string; bindings: number; jwt: boolean; kinds?: boolean },
): Promise<Fleet> {
  // RELIABILITY_KINDS=0 runs the fleet as it was before issues 13/14 (bindings + one JWT policy), to compare.
  const kinds = o.kinds ?? process.env.RELIABILITY_KINDS !== "0";
  const { emu, client } = env;
  await emu.control.reset();
  const ids = await emu.control.seedScenario();
  const logicApps = [ids.logicAppId];
  for (let i = 1; i < o.bindings; i++)
    logicApps.push(
      (
        await emu.control.seedLogicApp({
          subscriptionId: ids.subscriptionId,
          resourceGroup: ids.resourceGroup,
          name: `workflow-${i}`,
          kind: "Consumption",
        })
      ).id,
    );
  // Foreign content the operator must never touch.
  const alice = await emu.control.seedUser({ displayName: "alice" });
  await emu.control.seedRoleAssignment({
    scope: ids.keyVaultScope,
    roleDefinitionId: READER,
    principalId: alice.id,
    principalType: "User",
    description: "granted by hand",
  });
  await emu.control.seedAppRoleAssignment({
    resourceId: ids.ordersApi.servicePrincipalId,
    principalId: alice.id,
    appRoleId: ids.ordersApi.appRoles.ReadRole,
  });
  await emu.control.seedPolicyFragment({
    serviceId: ids.apim.serviceId,
    fragmentId: "team-cors",
    xml: "<fragment><cors><allowed-origins><origin>*</origin></allowed-origins></cors></fragment>",
  });
  const foreignPolicy = FOREIGN_POLICY("team-cors");
  await emu.control.putPolicyRaw({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId }, foreignPolicy);
  const uami = await emu.control.seedUserAssignedIdentity({
    subscriptionId: ids.subscriptionId,
    resourceGroup: ids.resourceGroup,
    name: "human-attached",
  });
  await emu.control.setLogicAppIdentity(logicApps[0]!, {
    type: "UserAssigned",
    userAssignedIdentities: [uami.id],
  });
  // Issue 13/14 content: a person's application under the namespace's registration prefix (the operator is not an
  // owner: an ApiRegistration naming its URI must stall, never adopt it), and a Standard Logic App whose V2
  // connection already carries a person's access policy.
  const registrationPrefix = `api://rel-${o.ns}`;
  const foreignAppUri = `${registrationPrefix}/by-hand`;
  await emu.control.seedApplication({
    displayName: "registered by hand",
    identifierUris: [foreignAppUri],
    appRoles: [{ value: "Manual", displayName: "Manual" }],
    servicePrincipal: true,
  });
  let standardSite: string | undefined;
  let connectionId: string | undefined;
  if (kinds) {
    // connections.json as docs/workflow-check.md reads it (managedApiConnections with MSI authentication).
    ({ siteId: standardSite, connectionId } = await seedStandardWithV2Connection(
      emu.control,
      ids,
      "standard-0",
    ));
    // connections.json reaches the operator in each workflow's `files`: the app needs a workflow to show it.
    await emu.control.seedSiteWorkflow({
      siteId: standardSite,
      name: "nightly",
      definition: {
        $schema:
          "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        contentVersion: "1.0.0.0",
        parameters: {},
        triggers: {},
        actions: {},
        outputs: {},
      },
    });
    await emu.control.seedConnectionAccessPolicy({ connectionId, name: "by-hand", objectId: alice.id });
    logicApps.push(standardSite);
    await emu.control.seedApimApi({ serviceId: ids.apim.serviceId, apiId: "reg-api", path: "reg-api" });
  }
  const policy = scenarioPolicy(o.ns, ids);
  policy.spec.apiRegistrations = { identifierUriPrefixes: [registrationPrefix] };
  policy.spec.apis = [...(policy.spec.apis ?? []), { api: `${registrationPrefix}/orders`, appRoles: ["*"] }];
  await applyAccessPolicy(client, policy);
  const src = sources(env, o.recordsNs);
  const snapshot = await snapshotForeign(src);
  const logStart = await lastLogSeq(emu);
  const bindings: string[] = [];
  for (let i = 0; i < o.bindings; i++) {
    const name = `b-${i}`;
    // b-0 uses the identity a person attached (a Consumption Logic App holds one identity at a time): the
    // operator must use it and, on Delete, leave it attached; the others get a system identity turned on.
    const spec: BindingSpec = {
      logicAppId: logicApps[i]!,
      identity:
        i === 0 ? { type: "UserAssigned", userAssignedIdentityId: uami.id } : { type: "SystemAssigned" },
      roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
    };
    await client.create(BINDING_RESOURCE, o.ns, {
      apiVersion: API_VERSION,
      kind: "LogicAppIdentityBinding",
      metadata: { name, namespace: o.ns },
      spec,
    });
    bindings.push(name);
  }
  const registrations: string[] = [];
  const registrationUris: Fleet["registrationUris"] = {};
  const policies: string[] = [];
  if (kinds) {
    // reg-0 (Orphan, the default) is granted by reference and followed by a JWT policy; reg-1 (Delete) is
    // granted nothing, so its deletion really deletes the application the operator created.
    for (const [name, uri, deletionPolicy] of [
      ["reg-0", `${registrationPrefix}/orders`, "Orphan"],
      ["reg-1", `${registrationPrefix}/scratch`, "Delete"],
    ] as const) {
      const spec: ApiRegistrationSpec = {
        displayName: `reliability ${name}`,
        identifierUris: [uri],
        appRoles: [{ value: "Invoke", displayName: "Invoke the API", allowedMemberTypes: ["Application"] }],
        deletionPolicy,
      };
      await client.create(API_REGISTRATION_RESOURCE, o.ns, {
        apiVersion: API_VERSION,
        kind: "ApiRegistration",
        metadata: { name, namespace: o.ns },
        spec,
      });
      registrations.push(name);
      registrationUris[name] = { uri, deletionPolicy };
    }
    const reg = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "workflow-reg",
      kind: "Consumption",
    });
    logicApps.push(reg.id);
    const extra: [string, BindingSpec][] = [
      [
        "b-reg",
        {
          logicAppId: reg.id,
          identity: { type: "SystemAssigned" },
          appRoleAssignments: [{ apiRegistrationRef: { name: "reg-0" }, appRole: "Invoke" }],
        },
      ],
      [
        "b-std",
        {
          logicAppId: standardSite!,
          identity: { type: "SystemAssigned" },
          roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
          deletionPolicy: "Delete",
        },
      ],
    ];
    for (const [name, spec] of extra) {
      await client.create(BINDING_RESOURCE, o.ns, {
        apiVersion: API_VERSION,
        kind: "LogicAppIdentityBinding",
        metadata: { name, namespace: o.ns },
        spec,
      });
      bindings.push(name);
    }
    const spec: JwtPolicySpec = {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: "reg-api" },
      bindingRef: { name: "b-reg" },
    };
    await client.create(JWT_POLICY_RESOURCE, o.ns, {
      apiVersion: API_VERSION,
      kind: "ApimJwtPolicy",
      metadata: { name: "jwt-reg", namespace: o.ns },
      spec,
    });
    policies.push("jwt-reg");
  }
  if (o.jwt) {
    const spec: JwtPolicySpec = {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      bindingRef: { name: "b-0" },
    };
    await client.create(JWT_POLICY_RESOURCE, o.ns, {
      apiVersion: API_VERSION,
      kind: "ApimJwtPolicy",
      metadata: { name: "jwt-0", namespace: o.ns },
      spec,
    });
    policies.push("jwt-0");
  }
  return {
    ns: o.ns,
    recordsNs: o.recordsNs,
    ids,
    logicApps,
    bindings,
    policies,
    registrations,
    registrationUris,
    registrationPrefix,
    foreignAppUri,
    ...(standardSite ? { standardSite } : {}),
    ...(connectionId ? { connectionId } : {}),
    humanUami: uami.id,
    foreignPolicy,
    snapshot,
    logStart,
    changesAt: [],
  };
}

export const sources = (env: Env, recordsNs: string): InvariantSources => ({
  emulator: env.emu.control,
  kube: env.client,
  recordsNamespace: recordsNs,
});

/**
 * One kind's objects as the checks see them. Bindings and JWT policies are built in; a kind added later (e.g.
 * ApiRegistration) registers a probe here and its objects join the convergence and deletion checks.
 */
export interface KindProbe {
  kind: string;
  resource: ResourceRef;
  names: (fleet: Fleet) => readonly string[];
}

export const PROBES: KindProbe[] = [
  { kind: "LogicAppIdentityBinding", resource: BINDING_RESOURCE, names: (f) => f.bindings },
  { kind: "ApimJwtPolicy", resource: JWT_POLICY_RESOURCE, names: (f) => f.policies },
  { kind: "ApiRegistration", resource: API_REGISTRATION_RESOURCE, names: (f) => f.registrations },
];

type Raw = KubeObject<unknown, ObservedObject["status"]>;

export async function observe(
  env: Env,
  ns: string,
  probes: readonly { kind: string; resource: ResourceRef; names: readonly string[] }[],
): Promise<(ObservedObject & { spec: unknown })[]> {
  const out: (ObservedObject & { spec: unknown })[] = [];
  for (const p of probes)
    for (const name of p.names) {
      const o = await env.client.get<Raw>(p.resource, { namespace: ns, name });
      out.push({
        kind: p.kind,
        namespace: ns,
        name,
        spec: o.spec,
        ...(o.metadata.generation !== undefined ? { generation: o.metadata.generation } : {}),
        ...(o.status ? { status: o.status } : {}),
      });
    }
  return out;
}

const fleetProbes = (fleet: Fleet) => PROBES.map((p) => ({ ...p, names: p.names(fleet) }));

/**
 * Waits until every object of the fleet is Ready or Stalled (with `ready`, Ready); returns the milliseconds it
 * took. After faults clear, wait for Ready with a bound above the 60 s backoff cap: a resync pass that met a fault
 * leaves Ready=False until the next pass (docs/reliability.md, finding 6).
 */
export async function waitConverged(
  env: Env,
  fleet: Fleet,
  boundMs: number,
  since = Date.now(),
  o: { ready?: boolean } = {},
) {
  let disagreements: string[] = [];
  for (;;) {
    const objs = await observe(env, fleet.ns, fleetProbes(fleet)).catch(() => undefined);
    // Once faults are cleared (`ready`), settled: the last pass succeeded and the bindings' status matches Azure. A
    // change made in Azure alone (a recreated identity) leaves every object Ready until a pass sees it, so Ready by
    // itself would end the wait before the heal it is meant to wait for.
    const done = (x: ObservedObject) =>
      o.ready ? outcomeOf(x, true) === "Ready" : outcomeOf(x) !== undefined;
    if (objs && objs.every(done)) {
      if (!o.ready) return Date.now() - since;
      disagreements = findStatusDisagreements(
        await readWorld(sources(env, fleet.recordsNs)),
        objs.filter((x) => x.kind === "LogicAppIdentityBinding") as BindingStatusView[],
      );
      if (disagreements.length === 0) return Date.now() - since;
    }
    if (Date.now() - since > boundMs) {
      const pending = [...findUnconverged(objs ?? []), ...disagreements];
      const all = (objs ?? []).map((o) => {
        const c = (t: string) => o.status?.conditions?.find((x) => x.type === t);
        return `${o.kind} ${o.name}: ${outcomeOf(o) ?? "pending"} (Ready ${c("Ready")?.reason ?? "-"}: ${c("Ready")?.message ?? ""}; Stalled ${c("Stalled")?.status ?? "-"} ${c("Stalled")?.reason ?? ""})`;
      });
      throw new Error(
        `not converged within ${boundMs / 1000} s:\n  - ${pending.join("\n  - ")}\nall objects:\n  ${all.join("\n  ")}`,
      );
    }
    await sleep(250);
  }
}

/**
 * Every invariant, once the fleet has converged and faults are cleared: ownership (foreign content, records, no
 * duplicates, identities), convergence with readable reasons, status agreeing with Azure, no write loops, and the
 * person's policy elements still there in their order. Throws listing every violation.
 */
export async function verify(env: Env, fleet: Fleet, o: { expectReady?: boolean } = {}): Promise<void> {
  const src = sources(env, fleet.recordsNs);
  const world = await readWorld(src);
  const objs = await observe(env, fleet.ns, fleetProbes(fleet));
  const v = [
    ...findViolations(fleet.snapshot, world, { identities: true }),
    ...findUnconverged(objs),
    ...findStatusDisagreements(
      world,
      objs.filter((x) => x.kind === "LogicAppIdentityBinding") as BindingStatusView[],
    ),
    ...findWriteLoops(await env.emu.control.requestLog({ since: fleet.logStart }), {
      changesAt: fleet.changesAt,
    }),
  ];
  if (o.expectReady ?? true)
    for (const x of objs)
      if (outcomeOf(x) !== "Ready")
        v.push(`${x.kind} ${x.namespace}/${x.name} should be Ready once faults clear, is ${outcomeOf(x)}`);
  const policy = await env.emu.control.getPolicyRaw({
    serviceId: fleet.ids.apim.serviceId,
    apiId: fleet.ids.apim.apiId,
  });
  const order = ["<rate-limit", 'fragment-id="team-cors"', "<set-header"].map(
    (s) => policy?.xml.indexOf(s) ?? -1,
  );
  if (order.some((i) => i < 0) || order.some((i, k) => k > 0 && i < order[k - 1]!))
    v.push(`the person's policy elements were lost or reordered: ${policy?.xml}`);
  const conn = connectionFindings(world.state, fleet);
  if (conn.length) {
    const std = objs.find((x) => x.name === "b-std");
    const c = std?.status?.conditions?.find((x) => x.type === "ConnectionsReady");
    v.push(...conn.map((m) => `${m} (b-std ConnectionsReady ${c?.status} ${c?.reason}: ${c?.message})`));
  }
  if (v.length) throw new Error(`invariants broken:\n  - ${v.join("\n  - ")}`);
}

/** The Standard app's current principal has its `laio-` policy on the V2 connection (issue 14), once Ready. */
function connectionFindings(state: World["state"], fleet: Fleet): string[] {
  if (!fleet.standardSite || !fleet.connectionId) return [];
  const principal = state.sites[fleet.standardSite.toLowerCase()]?.identity.systemPrincipalId;
  const policies = state.connections[fleet.connectionId.toLowerCase()]?.accessPolicies ?? {};
  if (!principal) return [`the Standard Logic App ${fleet.standardSite} has no system identity`];
  if (!policies[`laio-${principal}`.toLowerCase()])
    return [`no access policy for the current principal ${principal} on ${fleet.connectionId}`];
  return [];
}

/**
 * The identity of the fleet's Standard Logic App is recreated behind the operator's back (a new principal): it
 * must add `laio-<new>` and remove only the stale policy its record lists (docs/workflow-check.md).
 */
export async function recreateStandardIdentity(env: Env, fleet: Fleet): Promise<void> {
  if (!fleet.standardSite) return;
  await markChange(env, fleet);
  await env.emu.control.setLogicAppIdentity(fleet.standardSite, { type: "None" });
  await env.emu.control.setLogicAppIdentity(fleet.standardSite, { type: "SystemAssigned" });
  await markChange(env, fleet);
}

/** Deletes the fleet's objects, waits for them to go, and checks nothing the operator made is left behind. */
export async function deleteFleet(env: Env, fleet: Fleet, boundMs: number): Promise<number> {
  const started = Date.now();
  for (const p of fleetProbes(fleet))
    for (const name of p.names)
      await env.client.delete(p.resource, { namespace: fleet.ns, name }).catch(() => undefined);
  for (;;) {
    let left = 0;
    for (const p of fleetProbes(fleet))
      for (const name of p.names)
        await env.client.get(p.resource, { namespace: fleet.ns, name }).then(
          () => left++,
          (e: unknown) => {
            if (!isNotFound(e)) left++;
          },
        );
    if (left === 0) break;
    if (Date.now() - started > boundMs) throw new Error(`${left} objects not deleted within ${boundMs} ms`);
    await sleep(250);
  }
  const world = await readWorld(sources(env, fleet.recordsNs));
  const v = findViolations(fleet.snapshot, world, { identities: true });
  const ours = Object.values(world.state.roleAssignments).filter((a) =>
    (a.description ?? "").includes(`${fleet.ns}/`),
  );
  for (const a of ours) v.push(`orphan role assignment ${a.name} after Delete`);
  const principals = new Set(
    Object.values(world.state.appRoleAssignments)
      .filter((a) => a.principalType === "ServicePrincipal")
      .map((a) => a.principalId),
  );
  for (const la of fleet.logicApps) {
    const p = world.state.workflows[la.toLowerCase()]?.identity.systemPrincipalId;
    if (p && principals.has(p)) v.push(`orphan app-role assignment to ${la}'s principal after Delete`);
  }
  const uamiPrincipal = world.state.userAssignedIdentities[fleet.humanUami.toLowerCase()]?.principalId;
  if (uamiPrincipal && principals.has(uamiPrincipal))
    v.push("orphan app-role assignment to the person's user-assigned identity after Delete");
  const uamiStill = world.state.workflows[fleet.logicApps[0]!.toLowerCase()]?.identity.userAssignedIds;
  if (!uamiStill?.some((u) => u.toLowerCase() === fleet.humanUami.toLowerCase()))
    v.push("the person's user-assigned identity was detached on delete");
  // Registrations: Orphan leaves the application (every caller depends on it); Delete soft-deletes the one the
  // operator created. The person's application under the same prefix is untouched (findViolations, above).
  const apps = Object.values(world.state.applications);
  for (const [name, r] of Object.entries(fleet.registrationUris)) {
    const app = apps.find((a) => a.identifierUris.includes(r.uri));
    if (r.deletionPolicy === "Orphan" && (!app || app.deletedDateTime !== null))
      v.push(`ApiRegistration ${name} (Orphan) took its application ${r.uri} with it`);
    if (r.deletionPolicy === "Delete" && app && app.deletedDateTime === null)
      v.push(`ApiRegistration ${name} (Delete) left its application ${r.uri} in place`);
  }
  if (fleet.connectionId) {
    const left = Object.values(
      world.state.connections[fleet.connectionId.toLowerCase()]?.accessPolicies ?? {},
    );
    for (const p of left)
      if (p.name.toLowerCase().startsWith("laio-"))
        v.push(`connection access policy ${p.name} left after its binding (deletionPolicy Delete) went`);
    if (!left.some((p) => p.name === "by-hand")) v.push("the person's connection access policy was removed");
  }
  if (v.length) throw new Error(`after deletion:\n  - ${v.join("\n  - ")}`);
  await deleteAccessPolicy(env.client, `scenario-${fleet.ns}`);
  return Date.now() - started;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// The operator as a process (crashes, leader election)

export interface OperatorProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** The real CLI (src/cli/main.ts run) against the emulator, so SIGKILL hits the operator, not the test. */
export function spawnOperator(
  env: Env,
  o: {
    ns: string;
    recordsNs: string;
    caFile: string;
    identity?: string;
    leaderElect?: boolean;
  },
): OperatorProcess {
  let out = "";
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, "src/cli/main.ts"),
      "run",
      `--kubeconfig=${env.kubeconfigPath}`,
      `--namespaces=${o.ns}`,
      `--records-namespace=${o.recordsNs}`,
      `--lease-namespace=${o.recordsNs}`,
      `--identity=${o.identity ?? "solo"}`,
      `--leader-elect=${o.leaderElect ? "true" : "false"}`,
      "--lease-duration=3s",
      "--renew-deadline=2s",
      "--retry-period=250ms",
      "--metrics-addr=",
      "--health-addr=",
      "--log-level=warn",
      "--resync-interval=1s",
      "--shutdown-timeout=5s",
      "--inventory=false",
      `--arm-endpoint=${env.emu.url}`,
      `--graph-endpoint=${env.emu.url}`,
      `--azure-ca-file=${o.caFile}`,
      "--azure-credential=static",
    ],
    { env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, output: () => out, exited };
}

export async function killHard(p: OperatorProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

/** A crash that was not ours: the process died on its own (the operator must never crash on input or faults). */
export function assertAlive(p: OperatorProcess, what: string): void {
  if (p.child.exitCode !== null || (p.child.signalCode !== null && p.child.signalCode !== "SIGKILL"))
    throw new Error(`operator died during ${what} (exit ${p.child.exitCode}):\n${p.output().slice(-3000)}`);
}

export { KV_SECRETS_USER };
