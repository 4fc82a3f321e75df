/**
 * The plan engine: validate every manifest with its kind's schema, build the tenancy fence from the policies (files
 * over cluster), then plan kind by kind in `order` (policies → registrations → bindings → JWT policies, so a JWT policy sees the
 * principal its binding's plan projects, and a binding the appId its ApiRegistration's plan projects). Kubernetes is only read (GET, LIST) and asked for server-side dry-runs.
 */
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import { VERSION } from "../../api/v1alpha1/group.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { AzurePorts } from "../../azure/ports.ts";
import { TenancyFence } from "../../controllers/tenancy/fence.ts";
import type { TenancyMode } from "../../controllers/tenancy/authorize.ts";
import type { CacheReader } from "../../runtime/reconciler.ts";
import { accessPolicyPlanAdapter } from "./access-policy.ts";
import { apiRegistrationPlanAdapter } from "./api-registration.ts";
import { bindingPlanAdapter } from "./binding.ts";
import { jwtPolicyPlanAdapter } from "./jwt-policy.ts";
import type { Manifest } from "./manifests.ts";
import type { ObjectPlan, PlanAdapter, PlanRecords } from "./model.ts";
import { readOnlyPorts } from "./read-only.ts";
import { noRecords } from "./records.ts";
import { validateAgainst } from "./validate.ts";

type Obj = Readonly<KubeObject<unknown, unknown>>;

/** What plan reads from a cluster (cli/plan/cluster.ts implements it over the API server). */
export interface ClusterView {
  get(kind: string, namespace: string | undefined, name: string): Promise<Obj | undefined>;
  list(kind: string): Promise<Obj[]>;
  namespaces(): Promise<{ name: string; labels: Record<string, string> }[]>;
  records: PlanRecords;
  /**
   * The API server's own verdict (schema + every CEL rule, transition rules included): `refused` with its message,
   * or the object as it would be stored (defaults applied), to compare with the live one.
   */
  dryRun(obj: Obj, live: Obj | undefined): Promise<{ refused: string } | { stored: Obj }>;
}

export interface PlanOptions {
  ports: AzurePorts;
  cluster?: ClusterView;
  tenancy: TenancyMode;
  now: string;
  /** Namespace documents found in the files (their labels feed the tenancy matcher). */
  namespaces?: Obj[];
  progress?: (done: number, total: number) => void;
  /** Extra kinds (the ones added by later issues register here). */
  adapters?: PlanAdapter[];
}

export interface PlanResult {
  objects: ObjectPlan[];
  /** Whether the CEL rules were checked by the API server (--cluster) or only locally. */
  celBy: "api-server" | "local";
}

function staticCache<T extends KubeObject>(items: readonly T[]): CacheReader<T> {
  const keyOf = (o: T) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  return {
    get: (k) => {
      const key = typeof k === "string" ? (k.includes("/") ? k : `/${k}`) : `${k.namespace ?? ""}/${k.name}`;
      return items.find((o) => keyOf(o) === key);
    },
    list: (ns) => items.filter((o) => ns === undefined || o.metadata.namespace === ns),
    hasSynced: () => true,
  };
}

const specDiff = (a: unknown, b: unknown, at = "spec"): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (
    typeof a !== "object" ||
    typeof b !== "object" ||
    a === null ||
    b === null ||
    Array.isArray(a) ||
    Array.isArray(b)
  )
    return [at];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) =>
    specDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`),
  );
};

export async function plan(manifests: readonly Manifest[], options: PlanOptions): Promise<PlanResult> {
  const ports = readOnlyPorts(options.ports);
  const cluster = options.cluster;
  const nsFiles = (options.namespaces ?? []).map((n) => ({
    name: n.metadata.name,
    labels: n.metadata.labels ?? {},
  }));
  const nsCluster = cluster ? await cluster.namespaces() : [];
  const namespaces = [...nsFiles, ...nsCluster.filter((n) => !nsFiles.some((f) => f.name === n.name))];
  for (const m of manifests) {
    const ns = m.object.metadata.namespace;
    if (m.object.kind !== "AzureAccessPolicy" && ns === undefined) m.object.metadata.namespace = "default";
    const name = m.object.metadata.namespace;
    if (name && !namespaces.some((n) => n.name === name))
      namespaces.push({ name, labels: { "kubernetes.io/metadata.name": name } });
  }
  const adapters = [
    accessPolicyPlanAdapter(() => namespaces),
    apiRegistrationPlanAdapter,
    bindingPlanAdapter,
    jwtPolicyPlanAdapter,
    ...(options.adapters ?? []),
  ];
  const byKind = new Map(adapters.map((a) => [a.kind, a]));

  const filePolicies = manifests
    .filter((m) => m.object.kind === "AzureAccessPolicy")
    .map((m) => m.object as unknown as AzureAccessPolicy);
  const clusterPolicies = cluster
    ? ((await cluster.list("AzureAccessPolicy")) as unknown as AzureAccessPolicy[])
    : [];
  const policies = [
    ...filePolicies,
    ...clusterPolicies.filter((p) => !filePolicies.some((f) => f.metadata.name === p.metadata.name)),
  ];
  const tenancy = new TenancyFence({
    mode: options.tenancy,
    policies: staticCache(policies),
    namespaces: staticCache(
      namespaces.map((n) => ({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: n.name, labels: n.labels },
        spec: {},
      })),
    ),
  });

  // Objects as their plan leaves them, by kind/namespace/name, over the cluster's (what later kinds look up).
  const projected = new Map<string, Obj>();
  const lookupOf = async (kind: string) => {
    const inCluster = cluster ? await cluster.list(kind) : [];
    return (ns: string, name: string): Obj | undefined =>
      projected.get(`${kind}/${ns}/${name}`) ??
      inCluster.find((b) => b.metadata.namespace === ns && b.metadata.name === name);
  };
  const bindings = await lookupOf("LogicAppIdentityBinding");
  const registrations = await lookupOf("ApiRegistration");

  const ordered = [...manifests].sort(
    (a, b) => (byKind.get(a.object.kind)?.order ?? 99) - (byKind.get(b.object.kind)?.order ?? 99),
  );
  const out: ObjectPlan[] = [];
  let done = 0;
  for (const m of ordered) {
    const o = m.object;
    const base = {
      kind: o.kind,
      name: o.metadata.name,
      source: m.source,
      changes: [],
      refusals: [],
      notes: [],
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    };
    const adapter = byKind.get(o.kind);
    options.progress?.(done++, ordered.length);
    if (!adapter) {
      out.push({
        ...base,
        error: `${o.kind} is not a kind this operator plans (known: ${[...byKind.keys()].join(", ")})`,
      });
      continue;
    }
    if (o.apiVersion.split("/")[1] !== VERSION) {
      out.push({
        ...base,
        error: `apiVersion ${o.apiVersion} is not served; use ${o.apiVersion.split("/")[0]}/${VERSION}`,
      });
      continue;
    }
    const problems = validateAgainst(adapter.specSchema, o.spec, "spec");
    if (problems.length > 0) {
      out.push({
        ...base,
        error: `invalid (the API server would refuse it): ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
      });
      continue;
    }
    const live = cluster
      ? await cluster.get(o.kind, adapter.namespaced ? o.metadata.namespace : undefined, o.metadata.name)
      : undefined;
    let stored: Obj = o;
    if (cluster) {
      const verdict = await cluster.dryRun(o, live);
      if ("refused" in verdict) {
        out.push({ ...base, error: `the API server refuses it: ${verdict.refused}` });
        continue;
      }
      stored = verdict.stored;
    }
    try {
      const p = await adapter.plan(o, {
        ports,
        tenancy,
        bindings,
        registrations,
        records: cluster?.records ?? { bindings: noRecords(), jwtPolicies: noRecords() },
        now: options.now,
        ...(live ? { live } : {}),
      });
      const compared = cluster
        ? live
          ? specDiff(live.spec, stored.spec).length > 0
            ? { cluster: "changed" as const, clusterDiff: specDiff(live.spec, stored.spec) }
            : { cluster: "unchanged" as const }
          : { cluster: "new" as const }
        : {};
      const result: ObjectPlan = { ...p, source: m.source, ...compared };
      out.push(result);
      // Every planned object is projected, with or without a status: a later kind that references it must see
      // that it will exist (a JWT policy would otherwise call a binding planned in the same files BindingNotFound).
      const status = adapter.projectStatus?.(o, result);
      projected.set(
        `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
        status !== undefined ? { ...o, status } : o,
      );
    } catch (e) {
      out.push({
        ...base,
        error: `${e instanceof Error ? e.message : String(e)} — check the Azure endpoint and that the plan identity has Reader (docs/azure-permissions.md)`,
      });
    }
  }
  options.progress?.(ordered.length, ordered.length);
  return { objects: out, celBy: cluster ? "api-server" : "local" };
}

/** terraform plan -detailed-exitcode: 0 nothing to do, 2 changes, 1 an error or a refusal (apply would stall). */
export function exitCodeOf(result: PlanResult, loadErrors: readonly string[]): 0 | 1 | 2 {
  if (loadErrors.length > 0 || result.objects.some((o) => o.error || o.refusals.length > 0)) return 1;
  // "exists" is an observation, not a change.
  return result.objects.some((o) => o.changes.some((c) => c.op !== "exists")) ? 2 : 0;
}
