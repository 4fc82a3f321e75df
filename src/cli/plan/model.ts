/**
 * What `plan` reports, and the one interface a kind implements to be planned (`PlanAdapter`). An adapter parses and
 * validates its objects, gathers read-only through the ports it is handed, calls its kind's own pure decide, and
 * describes the actions decide returned. It never re-implements a decision: docs/adding-a-kind.md, "plan".
 */
import type { TSchema } from "@sinclair/typebox";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { AzurePorts } from "../../azure/ports.ts";
import type { TenancyFence } from "../../controllers/tenancy/fence.ts";
import type { RecordAccess } from "../../runtime/records.ts";

/** One Azure request a planned action will send (what the emulator's request log will show once applied). */
export interface PlannedWrite {
  method: "PUT" | "PATCH" | "POST" | "DELETE";
  /** ARM resource path or Graph path (/v1.0/...), without query. */
  path: string;
}

export interface PlanChange {
  /** enable-identity, attach-identity, create, adopt, revoke, sweep, update, delete... */
  op: string;
  /** One line for a person, e.g. `grant "Key Vault Secrets User" on .../vaults/kv to 1234...`. */
  summary: string;
  /** Details shown per object (role name AND GUID, scope, principal, assignment id...). */
  fields: Record<string, string>;
  /** The Azure request this change sends; absent for changes outside Azure (records) or not yet known. */
  write?: PlannedWrite;
  /** Known only after an earlier change is applied (a principal that does not exist yet). */
  afterApply?: boolean;
}

export interface PlanRefusal {
  reason: string;
  message: string;
}

export type ClusterComparison = "new" | "changed" | "unchanged" | "not-compared";

export interface ObjectPlan {
  kind: string;
  namespace?: string;
  name: string;
  source: string;
  changes: PlanChange[];
  refusals: PlanRefusal[];
  /** Things a reviewer should know that are neither a change nor a refusal (waiting for a binding...). */
  notes: string[];
  /** A unified diff of only the operator's part of a shared document (APIM: our fragment and include). */
  diff?: string;
  /** The object could not be planned (invalid, Azure unreadable): says what to do next. */
  error?: string;
  /** With --cluster: how the file differs from the object in the cluster. */
  cluster?: ClusterComparison;
  /** With --cluster: spec fields that differ from the cluster's object. */
  clusterDiff?: string[];
  /** Bindings: the identity the plan ends with (principal may be "(known after apply)"). */
  identity?: { principalId?: string; tenantId?: string };
  /** ApiRegistrations: the application the plan ends with (appId "(known after apply)" when it is created). */
  registration?: { appId?: string; identifierUris?: string[]; tokenVersion?: number };
}

/** The status a binding would have once its plan is applied, for kinds that reference bindings (JWT policies). */
export type BindingLookup = (
  namespace: string,
  name: string,
) => Readonly<KubeObject<unknown, unknown>> | undefined;

/** The operator's records as plan reads them; registration claims only where the cluster view provides them. */
export interface PlanRecords {
  bindings: RecordAccess<unknown>;
  jwtPolicies: RecordAccess<unknown>;
  registrationClaims?: RecordAccess<unknown>;
}

export interface PlanContext {
  /** Read-only ports (./read-only.ts): a write throws before any request. */
  ports: AzurePorts;
  tenancy: TenancyFence;
  /** Bindings from the files (and the cluster), with the status their plan projects. */
  bindings: BindingLookup;
  /** The operator's ownership records, read-only (from the cluster) or empty (no cluster). */
  records: PlanRecords;
  /** ApiRegistrations from the files (status as their plan projects it) and the cluster. */
  registrations: BindingLookup;
  now: string;
  /** The object as the cluster holds it (with status), when --cluster found one. */
  live?: Readonly<KubeObject<unknown, unknown>>;
}

/** One kind, as plan needs it. */
export interface PlanAdapter {
  kind: string;
  /** Cluster-scoped kinds (AzureAccessPolicy) have no namespace. */
  namespaced: boolean;
  /** The spec schema (src/api): validated with TypeBox and the local CEL table (./validate.ts). */
  specSchema: TSchema;
  /** Kinds planned first feed later ones (policies → registrations → bindings → JWT policies). Lower first. */
  order: number;
  plan(obj: Readonly<KubeObject<unknown, unknown>>, ctx: PlanContext): Promise<Omit<ObjectPlan, "source">>;
  /** The status this object would have after its plan, for lookups by other kinds (bindings, registrations). */
  projectStatus?(obj: Readonly<KubeObject<unknown, unknown>>, plan: ObjectPlan): unknown;
}
