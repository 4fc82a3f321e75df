/**
 * Tenancy enforced by the reconcilers alone (no admission policies installed): the shared case table
 * (test/support/tenancy-cases.ts) runs through the real operator against the emulator. A denied case must end
 * Stalled with the matcher's reason AND leave no write in Azure (request log and state); an allowed one Ready.
 * Then the policy's life cycle: a role removed from a policy revokes our grant (a hand-made one stays), a deleted
 * policy stalls its namespace and revokes, and permissive mode admits everything.
 *
 * Each case gets its own Logic App, named after the case in the resource group the case names, so that a write can
 * be attributed to one case (the policies list resource groups, so the verdict is the case's own). Cases whose IDs
 * the CRD schema refuses ("should match": `..`, `%2F`, trailing slash) cannot be created and are left to the
 * admission suite.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../emulator/index.ts";
import type { LogEntry } from "../../emulator/request-log.ts";
import type { AzureAccessPolicy } from "../../src/api/v1alpha1/access-policy.ts";
import {
  API_VERSION,
  findCondition,
  type ApimJwtPolicy,
  type BindingSpec,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { legacyFragmentId, roleAssignmentName } from "../../src/azure/naming.ts";
import {
  ACCESS_POLICY_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
  NAMESPACE_RESOURCE,
} from "../../src/controllers/resources.ts";
import { GRAPH_APP_ID, ROLE } from "../../src/controllers/tenancy/builtins.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { applyAccessPolicy, deleteAccessPolicy } from "../support/access-policy.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";
import {
  APIM_A,
  APIM_B,
  MS_OWNED_APP_ID,
  RG_A,
  SUB,
  SUB2,
  TEAM_B_LABELS,
  TENANCY_CASES,
  TENANT,
  tenancyPolicies,
  UAMI_A,
  type TeamNamespaces,
  type TenancyCase,
} from "../support/tenancy-cases.ts";

const MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const WRITE = new Set(["PUT", "PATCH", "POST", "DELETE"]);

let kubeconfigPath: string;
let emu: RunningEmulator;
let client: KubeClient;
let manager: Manager | undefined;
let ns: TeamNamespaces;
const policyNames: string[] = [];

interface Placed {
  c: TenancyCase;
  index: number;
  kind: "binding" | "jwt";
  namespace: string;
  name: string;
  /** The case's own Logic App (bindings). */
  logicAppId?: string;
}
let placed: Placed[] = [];

const schemaRefused = (c: TenancyCase) => c.admission === "should match";
const lower = (s: string) => s.toLowerCase();

/** The case's Logic App, renamed after the case inside the resource group (and casing) the case uses. */
function ownLogicApp(id: string, index: number): string {
  const cut = id.lastIndexOf("/");
  return `${id.slice(0, cut)}/${id.slice(cut + 1)}-c${index}`;
}

async function seedWorld(): Promise<void> {
  await emu.control.reset();
  for (const sub of [SUB, SUB2, "00000000-0000-0000-0000-0000000000ab"])
    await emu.control.seedSubscription({ subscriptionId: sub });
  for (const rg of ["rg-a", "rg-b", "rg-ab", "shared"])
    await emu.control.seedResourceGroup({ subscriptionId: SUB, name: rg });
  await emu.control.seedUserAssignedIdentity({ subscriptionId: SUB, resourceGroup: "rg-a", name: "id-a" });
  const custom = (name: string, roleName: string, actions: string[]) =>
    emu.control.seedRoleDefinition({
      name,
      roleName,
      assignableScopes: [`/subscriptions/${SUB}`],
      permissions: [{ actions }],
    });
  await custom("11111111-1111-1111-1111-111111111111", "Team Everything", ["*"]);
  await custom("22222222-2222-2222-2222-222222222222", "Team Access Manager", [
    "Microsoft.Authorization/*/Write",
  ]);
  await custom("44444444-4444-4444-4444-444444444444", "Orders Reader", ["Microsoft.Web/sites/read"]);
  const sp = (displayName: string, appId: string, uri: string | undefined, roles: string[], owner = TENANT) =>
    emu.control.seedServicePrincipal({
      displayName,
      appId,
      ...(uri ? { identifierUris: [uri] } : {}),
      appRoles: roles.map((value) => ({ value, allowedMemberTypes: ["Application"] })),
      appOwnerOrganizationId: owner,
    });
  await sp("orders", "33333333-3333-3333-3333-333333333333", "api://orders", ["Orders.Write", "Orders.Read"]);
  await sp("payments", "55555555-5555-5555-5555-555555555555", "api://payments", ["Pay"]);
  await sp("ms-owned", MS_OWNED_APP_ID, "api://ms-owned", ["Tenant.Admin"], MICROSOFT_TENANT);
  await sp(
    "Microsoft Graph",
    GRAPH_APP_ID,
    undefined,
    ["User.Read.All", "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"],
    MICROSOFT_TENANT,
  );
  for (const [rg, name] of [
    ["rg-a", "apim-a"],
    ["rg-b", "apim-b"],
  ] as const) {
    const serviceId = (await emu.control.seedApimService({ subscriptionId: SUB, resourceGroup: rg, name }))
      .id;
    await emu.control.seedApimApi({ serviceId, apiId: "orders", operations: [{ operationId: "get" }] });
    await emu.control.seedApimProduct({ serviceId, productId: "starter" });
  }
}

async function seedLogicApp(id: string): Promise<void> {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i.exec(
    id,
  );
  if (!m) return; // not a seedable ID: the case is about that
  const [, subscriptionId, resourceGroup, , type, name] = m;
  await emu.control.seedLogicApp({
    subscriptionId: subscriptionId!,
    resourceGroup: resourceGroup!,
    name: name!,
    kind: lower(type!) === "sites" ? "Standard" : "Consumption",
  });
}

async function place(cases: readonly TenancyCase[]): Promise<Placed[]> {
  const out: Placed[] = [];
  for (const [index, c] of cases.entries()) {
    if (schemaRefused(c)) continue;
    const namespace = ns[c.team];
    const name = `c${index}`;
    if (c.object.kind === "LogicAppIdentityBinding") {
      const logicAppId = ownLogicApp(c.object.spec.logicAppId, index);
      await seedLogicApp(logicAppId);
      const spec: BindingSpec = { ...c.object.spec, logicAppId };
      const body: LogicAppIdentityBinding = {
        apiVersion: API_VERSION,
        kind: "LogicAppIdentityBinding",
        metadata: { name, namespace },
        spec,
      };
      await client.create(BINDING_RESOURCE, namespace, body);
      out.push({ c, index, kind: "binding", namespace, name, logicAppId });
    } else {
      const body: ApimJwtPolicy = {
        apiVersion: API_VERSION,
        kind: "ApimJwtPolicy",
        metadata: { name, namespace },
        spec: c.object.spec,
      };
      await client.create(JWT_POLICY_RESOURCE, namespace, body);
      out.push({ c, index, kind: "jwt", namespace, name });
    }
  }
  return out;
}

type Obj = LogicAppIdentityBinding | ApimJwtPolicy;
const get = (p: Placed) =>
  client.get<Obj>(p.kind === "binding" ? BINDING_RESOURCE : JWT_POLICY_RESOURCE, {
    namespace: p.namespace,
    name: p.name,
  });
const cond = (o: Obj, type: string) => findCondition(o.status?.conditions, type);

/** Done: allowed cases Ready, denied ones Stalled, both for the current generation. */
function settled(p: Placed, o: Obj): boolean {
  if (p.c.verdict === true) return cond(o, "Ready")?.status === "True";
  return cond(o, "Stalled")?.status === "True";
}

const writesTo = (log: readonly LogEntry[], pathPart: string) =>
  log.filter((e) => WRITE.has(e.method) && lower(decodeURIComponent(e.path)).includes(lower(pathPart)));

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  client = new KubeClient(kubeConfig(kubeconfigPath));
  emu = await startEmulator();
  await seedWorld();
  const kc = kubeConfig(kubeconfigPath);
  ns = {
    a: await freshNamespace(kc, "ten-a"),
    b: await freshNamespace(kc, "ten-b"),
    none: await freshNamespace(kc, "ten-none"),
  };
  await client.patch(NAMESPACE_RESOURCE, { name: ns.b }, { metadata: { labels: TEAM_B_LABELS } });
  for (const p of tenancyPolicies(ns)) policyNames.push(await applyAccessPolicy(client, p));
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns.a,
    alsoWatch: [ns.b, ns.none],
    emulator: emu,
    resync: "30s",
  });
}, 60_000);

afterAll(async () => {
  await manager?.stop();
  for (const n of policyNames) await deleteAccessPolicy(client, n);
  client?.close();
  await emu?.stop();
});

describe("the case table through the reconcilers, admission off", () => {
  it("every denied case is Stalled with the matcher's reason and wrote nothing; every allowed one is Ready", async () => {
    placed = await place(TENANCY_CASES);
    expect(placed.length).toBeGreaterThanOrEqual(40);
    const last = new Map<string, Obj>();
    await waitUntil(
      "every case settled",
      async () => {
        for (const p of placed) last.set(p.name + p.namespace, await get(p));
        return placed.every((p) => settled(p, last.get(p.name + p.namespace)!));
      },
      75_000,
    ).catch((e: unknown) => {
      const open = placed
        .filter((p) => !settled(p, last.get(p.name + p.namespace)!))
        .map((p) => {
          const o = last.get(p.name + p.namespace)!;
          return `${p.name} "${p.c.name}" want ${String(p.c.verdict)}: Ready=${cond(o, "Ready")?.reason} ${cond(o, "Ready")?.message}`;
        });
      throw new Error(`${String(e)}\n${open.join("\n")}`);
    });

    const log = await emu.control.requestLog();
    for (const p of placed) {
      const o = last.get(p.name + p.namespace)!;
      const label = `${p.name} "${p.c.name}"`;
      if (p.c.verdict === true) continue;
      expect(cond(o, "Stalled")?.reason, label).toBe(p.c.verdict);
      expect(cond(o, "Ready")?.status, label).toBe("False");
      const r = p.c.request;
      if (p.kind === "jwt") {
        const fragment = legacyFragmentId(p.namespace, p.name);
        expect(writesTo(log, `/policyFragments/${fragment}`), label).toEqual([]);
        // Nothing of it anywhere in the services' documents either (state, not only the log).
        for (const serviceId of [APIM_A, APIM_B])
          for (const target of [
            {},
            { apiId: "orders" },
            { productId: "starter" },
            { apiId: "orders", operationId: "get" },
          ]) {
            const doc = await emu.control.getPolicyRaw({ serviceId, ...target });
            expect(doc?.xml ?? "", label).not.toContain(fragment);
          }
        continue;
      }
      const binding = o as LogicAppIdentityBinding;
      if (r.kind === "bindLogicApp" || r.kind === "attachIdentity" || r.kind === "enableIdentity") {
        // No identity write, hence no principal of ours and no grant.
        expect(writesTo(log, p.logicAppId!), label).toEqual([]);
        expect(binding.status?.principalId, label).toBeUndefined();
        continue;
      }
      const principal = binding.status?.principalId;
      expect(principal, label).toBeDefined();
      const held = await emu.control.listRoleAssignments({ principalId: principal! });
      expect(held, label).toEqual([]);
      expect(await emu.control.listAppRoleAssignments({ principalId: principal! }), label).toEqual([]);
      if (r.kind === "grantRole") {
        const name = roleAssignmentName(
          r.scope,
          `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${r.roleDefinitionGuid}`,
          principal!,
        );
        expect(writesTo(log, `/roleAssignments/${name}`), label).toEqual([]);
      }
      expect(binding.status?.roleAssignments?.every((e) => e.state === "Failed") ?? true, label).toBe(true);
    }
    // Graph: the only successful app-role writes are the allowed cases' (one each).
    const allowedApp = placed.filter((p) => p.c.verdict === true && p.c.request.kind === "grantAppRole");
    const graphWrites = log.filter(
      (e) => e.method === "POST" && /appRoleAssignedTo$/i.test(e.path) && e.status < 300,
    );
    expect(graphWrites.length).toBe(allowedApp.length);
    // The world as the allowed cases leave it: UAMI attached, the grants in place.
    const uamiCase = placed.find((p) => p.c.verdict === true && p.c.request.kind === "attachIdentity")!;
    expect(
      (await emu.control.getLogicApp(uamiCase.logicAppId!)).identity.userAssignedIdentities.map(lower),
    ).toContain(lower(UAMI_A));
  }, 120_000);
});

describe("policy life cycle", () => {
  const policy = (): AzureAccessPolicy =>
    tenancyPolicies(ns).find((p) => p.metadata.name.startsWith("team-a"))!;
  const rgReader = () =>
    placed.find(
      (p) =>
        p.c.verdict === true &&
        p.c.request.kind === "grantRole" &&
        lower(p.c.request.scope) === lower(RG_A) &&
        p.c.request.roleDefinitionGuid === ROLE.reader,
    )!;

  it("a role removed from the policy: our grant revoked within 10 s, hand-made ones stay", async () => {
    const p = rgReader();
    const b = (await get(p)) as LogicAppIdentityBinding;
    const principal = b.status!.principalId!;
    const ours = (await emu.control.listRoleAssignments({ principalId: principal })).filter((a) =>
      lower(a.properties.roleDefinitionId).endsWith(ROLE.reader),
    );
    expect(ours).toHaveLength(1);
    // Hand-made: the same role to the same principal at another scope, and to another principal at the same one.
    const elsewhere = await emu.control.seedRoleAssignment({
      scope: `${RG_A}/providers/Microsoft.KeyVault/vaults/kv-a`,
      roleDefinitionId: ROLE.reader,
      principalId: principal,
    });
    const other = placed.find(
      (x) => x.kind === "binding" && x !== p && x.c.verdict === true && x.c.team === "a",
    )!;
    const otherPrincipal = ((await get(other)) as LogicAppIdentityBinding).status!.principalId!;
    const toOther = await emu.control.seedRoleAssignment({
      scope: RG_A,
      roleDefinitionId: ROLE.reader,
      principalId: otherPrincipal,
    });
    const edited = policy();
    edited.spec.roles = (edited.spec.roles ?? []).filter((r) => r !== ROLE.reader);
    const started = Date.now();
    await applyAccessPolicy(client, edited);
    await waitUntil(
      "grant revoked",
      async () =>
        (await emu.control.listRoleAssignments({ principalId: principal })).every(
          (a) => a.id !== ours[0]!.id,
        ),
      10_000,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    const left = (await emu.control.listRoleAssignments({})).map((a) => a.id);
    expect(left).toContain(elsewhere.id);
    expect(left).toContain(toOther.id);
    await waitUntil(
      "Stalled NotAllowed",
      async () => cond(await get(p), "Stalled")?.reason === "NotAllowed",
      10_000,
    );
    await waitUntil(
      "AccessRevoked event",
      async () => {
        const list = await client.list<{ reason?: string; note?: string; regarding?: { name?: string } }>(
          { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
          p.namespace,
        );
        return list.items.some(
          (e) =>
            e.reason === "AccessRevoked" && e.regarding?.name === p.name && /spec\.roles/.test(e.note ?? ""),
        );
      },
      10_000,
    );
  }, 30_000);

  it("the policy deleted: the namespace's objects Stalled with NoAccessPolicy and our grants revoked", async () => {
    const granted = placed.filter(
      (p) =>
        p.kind === "binding" && p.c.team === "a" && p.c.verdict === true && p.c.request.kind === "grantRole",
    );
    const principals = await Promise.all(
      granted.map(async (p) => ((await get(p)) as LogicAppIdentityBinding).status?.principalId),
    );
    await deleteAccessPolicy(client, policy().metadata.name);
    await waitUntil(
      "team a Stalled NoAccessPolicy",
      async () => {
        for (const p of placed.filter((x) => x.c.team === "a"))
          if (cond(await get(p), "Stalled")?.reason !== "NoAccessPolicy") return false;
        return true;
      },
      20_000,
    );
    await waitUntil(
      "team a's grants revoked",
      async () => {
        for (const principal of principals) {
          if (!principal) continue;
          const held = (await emu.control.listRoleAssignments({ principalId: principal })).filter(
            (a) => !lower(a.properties.scope).endsWith("/kv-a"), // the hand-made one of the previous test stays
          );
          if (held.length > 0) return false;
        }
        return true;
      },
      20_000,
    );
  }, 60_000);
});

describe("namespace labels", () => {
  it("a label removed: the objects of the namespace a selector chose lose their policy at once", async () => {
    const teamB = placed.filter((p) => p.c.team === "b");
    await client.patch(
      NAMESPACE_RESOURCE,
      { name: ns.b },
      { metadata: { labels: { "example.com/team": null } } },
    );
    await waitUntil(
      "team b Stalled NoAccessPolicy",
      async () => {
        for (const p of teamB) if (cond(await get(p), "Stalled")?.reason !== "NoAccessPolicy") return false;
        return true;
      },
      10_000,
    );
    await client.patch(NAMESPACE_RESOURCE, { name: ns.b }, { metadata: { labels: TEAM_B_LABELS } });
    const allowed = teamB.filter((p) => p.c.verdict === true);
    await waitUntil(
      "team b allowed cases Ready again",
      async () => {
        for (const p of allowed) if (cond(await get(p), "Ready")?.status !== "True") return false;
        return true;
      },
      15_000,
    );
  }, 40_000);
});

describe("the policies' own status (the AzureAccessPolicy controller)", () => {
  it("shows the namespaces selected by name and by label, and warns when a policy selects none", async () => {
    const teamB = tenancyPolicies(ns).find((p) => p.metadata.name.startsWith("team-b"))!;
    await waitUntil(
      "team-b status",
      async () => {
        const p = await client.get<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, { name: teamB.metadata.name });
        return (
          p.status?.namespaces?.includes(ns.b) === true &&
          findCondition(p.status.conditions, "Ready")?.status === "True"
        );
      },
      10_000,
    );
    const typo: AzureAccessPolicy = {
      ...teamB,
      metadata: { name: `typo-${ns.none}` },
      spec: { namespaces: { names: [`${ns.none}-typo`] } },
    };
    policyNames.push(await applyAccessPolicy(client, typo));
    await waitUntil(
      "NoNamespaceSelected",
      async () => {
        const p = await client.get<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, { name: typo.metadata.name });
        return (
          p.status?.selectedNamespaces === 0 &&
          findCondition(p.status.conditions, "Warning")?.reason === "NoNamespaceSelected"
        );
      },
      10_000,
    );
    // Fixed by labelling a namespace the way a selector expects: the warning goes without touching the policy.
    await applyAccessPolicy(client, {
      ...typo,
      spec: { namespaces: { selector: { matchLabels: { typo: "fixed" } } } },
    });
    await client.patch(NAMESPACE_RESOURCE, { name: ns.none }, { metadata: { labels: { typo: "fixed" } } });
    await waitUntil(
      "warning gone",
      async () => {
        const p = await client.get<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, { name: typo.metadata.name });
        return (
          p.status?.namespaces?.join() === ns.none &&
          findCondition(p.status.conditions, "Warning") === undefined
        );
      },
      10_000,
    );
    // No finalizer on a policy: an administrator's delete never waits for the operator.
    const p = await client.get<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, { name: typo.metadata.name });
    expect(p.metadata.finalizers ?? []).toEqual([]);
    await deleteAccessPolicy(client, typo.metadata.name);
  }, 40_000);
});

describe("permissive mode", () => {
  it("admits what no policy allows", async () => {
    await manager?.stop();
    manager = await startTestOperator({
      kubeconfigPath,
      namespace: ns.none,
      emulator: emu,
      tenancy: "permissive",
    });
    const denied = placed.filter((p) => p.c.team === "none");
    expect(denied.length).toBeGreaterThan(0);
    await waitUntil(
      "team none Ready",
      async () => {
        for (const p of denied) if (cond(await get(p), "Ready")?.status !== "True") return false;
        return true;
      },
      30_000,
    );
  }, 60_000);
});
