/**
 * The ownership record store and Logic App claims on the real kube-apiserver: a record round-trips; a write based on
 * a stale resourceVersion is refused (RetryableError); a namespace user — impersonated, with the aggregated `edit`
 * role and an explicit ConfigMap role in their own namespace — can neither read nor write the records namespace;
 * two concurrent claims for one Logic App leave exactly one owner; a claim is taken over only once its holder is
 * gone from the API server (not merely from a cache).
 */
import * as k8s from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import { BINDING_RESOURCE } from "../../src/controllers/resources.ts";
import {
  claimLogicApp,
  claimKeyOf,
  createOwnershipStores,
  recordKeyOf,
  releaseClaim,
  type OwnershipStores,
} from "../../src/controllers/shared/ownership-store.ts";
import { emptyBindingRecord, type ClaimCandidate } from "../../src/controllers/shared/ownership.ts";
import { isStatus, KubeClient } from "../../src/runtime/client.ts";
import { RetryableError } from "../../src/runtime/reconciler.ts";
import {
  CONFIGMAP,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  RECORD_KIND_LABEL,
  RecordCorruptError,
  type ConfigMapObject,
} from "../../src/runtime/records.ts";
import { startEmulator } from "../../emulator/index.ts";
import { ownershipMarker } from "../../src/azure/naming.ts";
import { checkInvariants, snapshotForeign } from "../support/invariants.ts";
import { freshNamespace, kubeConfig, kubectl } from "../support/kube.ts";
import { bindingBody } from "./runtime-support.ts";

let kubeconfigPath: string;
let kc: k8s.KubeConfig;
let client: KubeClient;
let recordsNs: string;
let teamNs: string;
let stores: OwnershipStores;
const signal = (): AbortSignal => AbortSignal.timeout(20_000);
const SUB = "00000000-0000-0000-0000-0000000000b2";
const la = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/${name}`;

async function binding(ns: string, name: string, logicAppId: string): Promise<ClaimCandidate> {
  const body = bindingBody(name, "v") as { spec: { logicAppId: string } };
  body.spec.logicAppId = logicAppId;
  const created = await client.create<LogicAppIdentityBinding>(BINDING_RESOURCE, ns, body);
  return {
    namespace: ns,
    name,
    uid: created.metadata.uid!,
    creationTimestamp: created.metadata.creationTimestamp!,
    logicAppId,
  };
}

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  kc = kubeConfig(kubeconfigPath);
  client = new KubeClient(kc);
  recordsNs = await freshNamespace(kc, "laio-system");
  teamNs = await freshNamespace(kc, "team");
  stores = createOwnershipStores(client, recordsNs);
});

describe("record store", () => {
  it("round trip: create, read, update, list, delete — one labelled ConfigMap in the records namespace", async () => {
    const key = recordKeyOf({ namespace: teamNs, name: "orders" });
    const rec = emptyBindingRecord({ namespace: teamNs, name: "orders", uid: "uid-1" }, la("Orders"));
    expect(await stores.bindings.get(key, signal())).toBeUndefined();
    const created = await stores.bindings.put(key, rec, undefined, signal());
    expect(created.data).toEqual(rec);

    const cm = await client.request<ConfigMapObject>(
      "GET",
      client.objectPath(CONFIGMAP, { namespace: recordsNs, name: created.name }),
    );
    expect(cm.metadata.labels).toMatchObject({
      [MANAGED_BY_LABEL]: MANAGED_BY,
      [RECORD_KIND_LABEL]: "binding",
    });
    expect(JSON.parse(cm.data!["record.json"]!)).toEqual(rec);

    const next = {
      ...rec,
      identity: { ...rec.identity, enabledByOperator: true, systemPrincipalIds: ["p-1"] },
    };
    const updated = await stores.bindings.put(key, next, created.resourceVersion, signal());
    expect((await stores.bindings.get(key, signal()))?.data).toEqual(next);
    expect(updated.resourceVersion).not.toBe(created.resourceVersion);

    const listed = await stores.bindings.list(signal());
    expect(listed.map((r) => r.key)).toContain(key);
    expect(await stores.jwtPolicies.list(signal())).toEqual([]);

    await stores.bindings.delete(key, updated.resourceVersion, signal());
    expect(await stores.bindings.get(key, signal())).toBeUndefined();
    await stores.bindings.delete(key, undefined, signal()); // gone is not an error
  });

  it("a write based on a stale resourceVersion, or a create over an existing record, is a RetryableError", async () => {
    const key = recordKeyOf({ namespace: teamNs, name: "stale" });
    const rec = emptyBindingRecord({ namespace: teamNs, name: "stale", uid: "uid-1" }, la("stale"));
    const v1 = await stores.bindings.put(key, rec, undefined, signal());
    const v2 = await stores.bindings.put(key, { ...rec, uid: "uid-2" }, v1.resourceVersion, signal());

    await expect(
      stores.bindings.put(key, { ...rec, uid: "uid-3" }, v1.resourceVersion, signal()),
    ).rejects.toThrow(RetryableError);
    await expect(stores.bindings.put(key, rec, undefined, signal())).rejects.toThrow(RetryableError);
    await expect(stores.bindings.delete(key, v1.resourceVersion, signal())).rejects.toThrow(RetryableError);
    // Nothing a refused write carried reached the API server.
    const now = await stores.bindings.get(key, signal());
    expect(now?.data.uid).toBe("uid-2");
    expect(now?.resourceVersion).toBe(v2.resourceVersion);
  });

  it("a record edited by hand into garbage, or another key's record under this name, fails loudly", async () => {
    const key = recordKeyOf({ namespace: teamNs, name: "garbled" });
    const name = stores.bindings.nameOf(key);
    const write = (annotations: Record<string, string>, payload: string) =>
      client.request("POST", `/api/v1/namespaces/${recordsNs}/configmaps`, {
        body: { metadata: { name, annotations }, data: { "record.json": payload } },
      });
    await write({ "identity.logicapp.dev/record-key": "other/key" }, "{}");
    await expect(stores.bindings.get(key, signal())).rejects.toThrow(RecordCorruptError);
    await expect(stores.bindings.get(key, signal())).rejects.toThrow(/is for key "other\/key"/);
    await client.request("DELETE", `/api/v1/namespaces/${recordsNs}/configmaps/${name}`);
    await write({ "identity.logicapp.dev/record-key": key }, '{"uid":"u","graph":"all of it"}');
    await expect(stores.bindings.get(key, signal())).rejects.toThrow(/record\.identity is not an object/);
    await client.request("DELETE", `/api/v1/namespaces/${recordsNs}/configmaps/${name}`);
  });

  it("an aborted signal stops the call", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(stores.bindings.get("x/y", ac.signal)).rejects.toThrow(/aborted/);
  });
});

describe("records namespace is the operator's alone", () => {
  const user = "alice@team.example";

  beforeAll(async () => {
    const yaml = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-edit, namespace: ${teamNs} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "${user}" }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: configmaps, namespace: ${teamNs} }
rules: [{ apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, patch, delete] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-configmaps, namespace: ${teamNs} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmaps }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "${user}" }]
`;
    const out = await kubectl(kubeconfigPath, ["apply", "-f", "-"], yaml);
    expect(out.stderr).toBe("");
    const key = recordKeyOf({ namespace: teamNs, name: "victim" });
    await stores.bindings.put(
      key,
      emptyBindingRecord({ namespace: teamNs, name: "victim", uid: "u" }, la("victim")),
      undefined,
      signal(),
    );
  });

  const as = (args: string[], input?: string) =>
    kubectl(kubeconfigPath, [...args, `--as=${user}`, "--as-group=system:authenticated"], input);

  it("the user can manage ConfigMaps in their own namespace (so the refusals below are about the namespace)", async () => {
    const made = await as(["create", "configmap", "mine", "-n", teamNs, "--from-literal=a=b"]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
  });

  it("but can neither list, read, create, change nor delete a record", async () => {
    const name = stores.bindings.nameOf(recordKeyOf({ namespace: teamNs, name: "victim" }));
    const attempts = [
      ["get", "configmaps", "-n", recordsNs],
      ["get", "configmap", name, "-n", recordsNs, "-o", "json"],
      ["create", "configmap", "forged", "-n", recordsNs, "--from-literal=record.json={}"],
      ["patch", "configmap", name, "-n", recordsNs, "--type=merge", "-p", '{"data":{"record.json":"{}"}}'],
      ["delete", "configmap", name, "-n", recordsNs],
    ];
    for (const a of attempts) {
      const out = await as(a);
      expect(out.code, a.join(" ")).not.toBe(0);
      expect(out.stderr, a.join(" ")).toMatch(/forbidden/i);
    }
    const still = await stores.bindings.get(recordKeyOf({ namespace: teamNs, name: "victim" }), signal());
    expect(still?.data.logicAppId).toBe(la("victim").toLowerCase());
  });
});

describe("the chart's records Role", () => {
  it("lets the operator's service account keep records in its namespace, and touch no ConfigMap elsewhere", async () => {
    const helm = execFileSync(new URL("../../hack/tools/build-helm.sh", import.meta.url).pathname, {
      encoding: "utf8",
    }).trim();
    const chart = new URL("../../charts/logicapp-identity-operator", import.meta.url).pathname;
    const rendered = execFileSync(
      helm,
      [
        "template",
        "laio",
        chart,
        "--kube-version",
        "1.36.0",
        "-n",
        recordsNs,
        "--set",
        "azure.clientId=00000000-0000-0000-0000-000000000001",
      ],
      { encoding: "utf8" },
    );
    const docs = parseAllDocuments(rendered)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((d) => d?.metadata?.name?.endsWith("-records") || d?.kind === "ServiceAccount");
    expect(docs.map((d) => d!.kind).sort()).toEqual(["Role", "RoleBinding", "ServiceAccount"]);
    const applied = await kubectl(
      kubeconfigPath,
      ["apply", "-n", recordsNs, "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }),
    );
    expect(applied.stderr).toBe("");

    const sa = new k8s.KubeConfig();
    sa.loadFromOptions({
      clusters: kc.clusters,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
      users: kc.users.map((u) => ({
        ...u,
        impersonateUser: `system:serviceaccount:${recordsNs}:laio-logicapp-identity-operator`,
      })),
    });
    const asOperator = createOwnershipStores(new KubeClient(sa), recordsNs);
    const key = recordKeyOf({ namespace: teamNs, name: "by-operator" });
    const rec = emptyBindingRecord({ namespace: teamNs, name: "by-operator", uid: "u" }, la("by-operator"));
    const made = await asOperator.bindings.put(key, rec, undefined, signal());
    expect((await asOperator.bindings.list(signal())).map((r) => r.key)).toContain(key);
    await asOperator.bindings.delete(key, made.resourceVersion, signal());

    const elsewhere = createOwnershipStores(new KubeClient(sa), teamNs);
    await expect(elsewhere.bindings.put(key, rec, undefined, signal())).rejects.toSatisfy((e) =>
      isStatus(e, 403),
    );
    await expect(elsewhere.bindings.list(signal())).rejects.toSatisfy((e) => isStatus(e, 403));
  });
});

describe("one owner per Logic App", () => {
  it("two concurrent claims (each cache seeing only itself): exactly one wins, the other names it", async () => {
    for (let round = 0; round < 5; round++) {
      const id = la(`race-${round}`);
      const [a, b] = await Promise.all([
        binding(teamNs, `race-${round}-a`, id),
        binding(teamNs, `race-${round}-b`, id),
      ]);
      const outcomes = await Promise.all(
        [a, b].map((self) =>
          claimLogicApp({ claims: stores.claims, client, self, bindingsInCache: [self], signal: signal() }),
        ),
      );
      const winners = outcomes.filter((o) => o.decision.owner);
      expect(winners).toHaveLength(1);
      const stored = await stores.claims.get(claimKeyOf(id), signal());
      const winner = stored!.data;
      const loser = outcomes.find((o) => !o.decision.owner)!.decision;
      expect(loser).toEqual({ owner: false, holder: `${winner.namespace}/${winner.name}` });
      expect([a.uid, b.uid]).toContain(winner.uid);
    }
  });

  it("a claim is taken over only when its holder is gone from the API server, not just from a cache", async () => {
    const id = la("TakeOver");
    const holder = await binding(teamNs, "holder", id);
    const next = await binding(teamNs, "next", id);
    const first = await claimLogicApp({
      claims: stores.claims,
      client,
      self: holder,
      bindingsInCache: [holder],
      signal: signal(),
    });
    expect(first.decision).toEqual({ owner: true, write: "create" });

    // A cache that has not seen the holder yet: the live check keeps the claim where it is.
    const early = await claimLogicApp({
      claims: stores.claims,
      client,
      self: next,
      bindingsInCache: [next],
      signal: signal(),
    });
    expect(early.decision).toEqual({ owner: false, holder: `${teamNs}/holder` });
    expect(await releaseClaim(stores.claims, next, id, signal())).toBe(false);

    await client.delete(BINDING_RESOURCE, { namespace: teamNs, name: "holder" });
    const taken = await claimLogicApp({
      claims: stores.claims,
      client,
      self: next,
      bindingsInCache: [next],
      signal: signal(),
    });
    expect(taken.decision).toEqual({ owner: true, write: "takeover" });
    const stored = await stores.claims.get(claimKeyOf(id), signal());
    expect(stored?.data).toMatchObject({
      namespace: teamNs,
      name: "next",
      uid: next.uid,
      logicAppId: id.toLowerCase(),
    });

    // The owner releases; only then is the claim gone.
    expect(await releaseClaim(stores.claims, next, id, signal())).toBe(true);
    expect(await stores.claims.get(claimKeyOf(id), signal())).toBeUndefined();
  });

  it("a takeover that lost a race to another writer is a RetryableError, never a silent overwrite", async () => {
    const id = la("lost-race");
    const self = await binding(teamNs, "late", id);
    const key = claimKeyOf(id);
    const ghost = { logicAppId: key, namespace: teamNs, name: "ghost", uid: "ghost-uid" };
    const v1 = await stores.claims.put(key, ghost, undefined, signal());
    await stores.claims.put(key, { ...ghost, uid: "ghost-2" }, v1.resourceVersion, signal());
    await expect(
      stores.claims.put(key, { ...ghost, name: self.name, uid: self.uid }, v1.resourceVersion, signal()),
    ).rejects.toThrow(RetryableError);
    expect((await stores.claims.get(key, signal()))?.data.uid).toBe("ghost-2");
  });
});

describe("invariant checker on the live emulator and API server", () => {
  it("passes on a sound world and fails once a foreign grant is deleted or an operator grant loses its record", async () => {
    const emulator = await startEmulator();
    try {
      const ids = await emulator.control.seedScenario();
      const ns = await freshNamespace(kc, "laio-inv");
      const src = { emulator: emulator.control, kube: client, recordsNamespace: ns };
      const owner = await binding(teamNs, "inv-owner", ids.logicAppId);
      const principal = "11111111-2222-3333-4444-555555555555";
      const foreign = await emulator.control.seedRoleAssignment({
        scope: ids.resourceGroupId,
        roleDefinitionId: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        principalId: "99999999-2222-3333-4444-555555555555",
        description: "Owner, granted by hand",
      });
      const ours = await emulator.control.seedRoleAssignment({
        scope: ids.keyVaultScope,
        roleDefinitionId: "4633458b-17de-408a-b874-0445c86b69e6",
        principalId: principal,
        description: ownershipMarker(owner.namespace, owner.name, owner.uid),
      });
      const store = createOwnershipStores(client, ns).bindings;
      const rec = {
        ...emptyBindingRecord(owner, ids.logicAppId),
        rbac: [
          {
            id: ours.id,
            scope: ids.keyVaultScope,
            roleDefinitionId: ours.properties.roleDefinitionId,
            principalId: principal,
          },
        ],
      };
      const stored = await store.put(recordKeyOf(owner), rec, undefined, signal());

      const snapshot = await snapshotForeign(src);
      await checkInvariants(src, snapshot);

      await emulator.control.deleteRoleAssignment(foreign.name);
      await expect(checkInvariants(src, snapshot)).rejects.toThrow(/foreign role assignment .* was deleted/);

      const fresh = await snapshotForeign(src);
      await store.put(recordKeyOf(owner), { ...rec, rbac: [] }, stored.resourceVersion, signal());
      await expect(checkInvariants(src, fresh)).rejects.toThrow(
        /operator role assignment .* is in no record/,
      );
    } finally {
      await emulator.stop();
    }
  });
});
