/**
 * LogicAppIdentityBinding as a kind of the pass engine: its gather, decide, apply and report, and the per-pass
 * state they share (apply failures and created Graph IDs carried to the next round, one service principal lookup
 * per API per pass, the ownership record and claim: ./ownership.ts). `converge` runs the same rounds without
 * Kubernetes (benchmark, standalone, plan), with its records in memory.
 */
import {
  BINDING_KIND,
  type ApimJwtPolicy,
  type ApiRegistration,
  type BindingStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { ownershipMarker, roleAssignmentName } from "../../azure/naming.ts";
import type { CallOptions } from "../../azure/ports.ts";
import { API_REGISTRATION_RESOURCE, BINDING_RESOURCE, JWT_POLICY_RESOURCE } from "../resources.ts";
import type { TenancyFence } from "../tenancy/fence.ts";
import type { Kind } from "../shared/pass.ts";
import { runRounds, type PassHooks, type RoundsOptions, type RoundsResult } from "../shared/rounds.ts";
import { apply, report } from "./apply.ts";
import { decide } from "./decide.ts";
import { decideWorkflows } from "./decide-workflows.ts";
import { gatherWorkflows, WorkflowReads, type PassWorkflowMemo } from "./gather-workflows.ts";
import { gather, type BindingPorts } from "./gather.ts";
import { gatewayServicesOf } from "./gateways.ts";
import type { BindingRecord } from "../shared/ownership.ts";
import {
  lostGraphKey,
  lostRbacKey,
  type ApplyFailure,
  type BindingAction,
  type BindingNaming,
  type BindingObservation,
} from "./model.ts";
import { BindingRecords, memoryRecordStore, type OwnershipSession } from "./ownership.ts";
import { indexedPeers, type LogicAppIndex } from "./peers.ts";

export const NAMING: BindingNaming = { roleAssignmentName, ownershipMarker };

export interface BindingKindOptions {
  ports: BindingPorts;
  /** The AzureAccessPolicy fence; its verdicts go into the observation (the guard is wired in PassDeps). */
  tenancy?: TenancyFence;
  /** Poll while waiting for replication or a fresh identity. Default 5 s. */
  replicationPollMs?: number;
  /** Ownership records and claims (the reconciler passes the same object as the engine's write-ahead seam). */
  records: BindingRecords;
  /** What the workflow check keeps across passes (token versions); default: one per kind instance. */
  workflowReads?: WorkflowReads;
  /**
   * The binding cache indexed by Logic App (./peers.ts): a pass then reads only the bindings on its own Logic App
   * and the claim's holder. Without it every pass walks the whole cache (fine for converge and small tests).
   */
  logicAppIndex?: LogicAppIndex;
}

type BindingHooks = PassHooks<LogicAppIdentityBinding, BindingObservation, BindingAction, BindingStatus>;

export function bindingKind(
  options: BindingKindOptions,
): Kind<LogicAppIdentityBinding, BindingObservation, BindingAction, BindingStatus> {
  const workflowReads = options.workflowReads ?? new WorkflowReads();
  return {
    name: BINDING_KIND,
    resource: BINDING_RESOURCE,
    open: (obj, env) => {
      // The cache is asked for when the session opens, not before (a pass may end before it reads any).
      const cache = () => env.ctx.cache<LogicAppIdentityBinding>(BINDING_RESOURCE);
      const index = options.logicAppIndex;
      const session = options.records.open(
        obj,
        env.call.signal ?? env.ctx.signal,
        index ? indexedPeers({ get: (k) => cache().get(k) }, index) : () => cache().list(),
      );
      // The registration cache is asked for only when a grant references one (a controller without that watch
      // still runs bindings that do not).
      const resolve = (b: Readonly<LogicAppIdentityBinding>) =>
        withRegistrationRefs(b, (name) =>
          env.ctx
            .cache<ApiRegistration>(API_REGISTRATION_RESOURCE)
            .get({ namespace: b.metadata.namespace ?? "", name }),
        );
      // The gateways its callers must use: read anew each round from the cache (the controller watches the policies).
      const gateways = (b: Readonly<LogicAppIdentityBinding>) =>
        gatewayServicesOf(
          b,
          env.ctx.cache<ApimJwtPolicy>(JWT_POLICY_RESOURCE).list(b.metadata.namespace),
          (p) => options.tenancy?.jwtPolicyVerdict(p),
        );
      const hooks = bindingPass(resolve(obj), { ...options, workflowReads }, session, env.call, gateways);
      // Every round reads the references anew from the cache: a registration that got its appId meanwhile counts.
      return {
        ...hooks,
        gather: (b) => hooks.gather(resolve(b)),
        decide: (b, observed, now) => hooks.decide(resolve(b), observed, now),
        closed: () => options.records.close(session),
      };
    },
  };
}

export function bindingPass(
  binding: Readonly<LogicAppIdentityBinding>,
  options: Omit<BindingKindOptions, "records">,
  ownership: OwnershipSession,
  call: CallOptions = {},
  /** APIM services of the ApimJwtPolicies that reference the binding (the workflow check's gateway hosts). */
  gatewayServices: (b: Readonly<LogicAppIdentityBinding>) => readonly string[] = () => [],
): BindingHooks {
  const ports = withServicePrincipalCache(options.ports);
  const logicAppId = binding.spec.logicAppId;
  let applyFailures: Record<string, ApplyFailure> = {};
  const workflowMemo: PassWorkflowMemo = {};
  const created: string[] = [];
  return {
    gather: async (b) => {
      // Record and claim before Azure is read or written: a binding that does not hold the claim writes nothing.
      await ownership.open();
      const o = await gather(
        b,
        ports,
        { applyFailures, createdAppRoleAssignmentIds: created },
        call,
        ownership.record,
      );
      const before = ownership.record;
      const record = await ownership.settle(b, o);
      const lostGrants = lostSince(before, record);
      const tenancy = options.tenancy;
      const workflows = await gatherWorkflows(
        b,
        {
          logicAppExists: o.logicApp.exists,
          kind: o.logicApp.kind,
          apis: o.apis,
          apimServiceIds: gatewayServices(b),
        },
        ports,
        call,
        record,
        (id) => tenancy?.connectionVerdict(b, id),
        options.workflowReads,
        workflowMemo,
      );
      return {
        ...o,
        ...(record ? { record } : {}),
        ...(workflows ? { workflows } : {}),
        ...(lostGrants.length > 0 ? { lostGrants } : {}),
        ...(ownership.claimedBy !== undefined ? { claimedBy: ownership.claimedBy } : {}),
        othersOnLogicApp: ownership.othersOnLogicApp,
        ...(tenancy && b.metadata.deletionTimestamp === undefined
          ? { tenancy: tenancy.bindingVerdicts(b, o) }
          : {}),
      };
    },
    decide: (b, observed, now) =>
      decideWorkflows(
        b,
        observed,
        decide(b, observed, {
          now,
          naming: NAMING,
          ...(options.replicationPollMs !== undefined
            ? { replicationPollMs: options.replicationPollMs }
            : {}),
        }),
      ),
    apply: async (actions) => {
      const r = await apply(actions, ports, logicAppId, call);
      applyFailures = { ...applyFailures, ...r.failures };
      created.push(...r.createdAppRoleAssignmentIds);
      // A failure here leaves intents (Graph) and markers (RBAC) that the next gather resolves.
      await ownership.recordApplied(r.results);
      return r;
    },
    finalized: () => ownership.finalize(),
    report: (r) => report(r, logicAppId),
    // The next round decides from what this round established (e.g. that this binding turned the identity on).
    carryStatus: true,
    // No status write-ahead: status is a report; the Graph intent goes into the ownership record (the seam).
  };
}

/**
 * The binding with every `apiRegistrationRef` replaced by the registration's appId (same namespace only), as the
 * rest of the kind reads grants. A registration that does not exist or has no appId yet leaves the reference
 * unresolved (`ApiRegistration/<name>`, which no service principal answers to): the grant waits, and the
 * registration's watch wakes the binding when its status changes.
 */
export function withRegistrationRefs(
  binding: Readonly<LogicAppIdentityBinding>,
  registration: (name: string) => Readonly<ApiRegistration> | undefined,
): LogicAppIdentityBinding {
  const grants = binding.spec.appRoleAssignments;
  if (!grants?.some((g) => g.apiRegistrationRef)) return binding as LogicAppIdentityBinding;
  const appRoleAssignments = grants.map((g) => {
    if (!g.apiRegistrationRef) return g;
    const r = registration(g.apiRegistrationRef.name);
    const appId = r && r.metadata.deletionTimestamp === undefined ? r.status?.appId : undefined;
    return appId ? { api: appId, appRole: g.appRole } : g;
  });
  return { ...binding, spec: { ...binding.spec, appRoleAssignments } } as LogicAppIdentityBinding;
}

/** One binding pass without Kubernetes. */
export async function converge(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  options: RoundsOptions<LogicAppIdentityBinding, BindingAction, BindingStatus> & {
    replicationPollMs?: number;
    /** Ownership records to use across passes; default: fresh ones in memory for this pass. */
    records?: BindingRecords;
  },
): Promise<RoundsResult<BindingAction, BindingStatus>> {
  const { replicationPollMs, records, ...rounds } = options;
  const seam = records ?? new BindingRecords({ records: memoryRecordStore() });
  const session = seam.open(binding, options.signal ?? new AbortController().signal, () => []);
  const hooks = bindingPass(
    binding,
    {
      ports,
      ...(replicationPollMs !== undefined ? { replicationPollMs } : {}),
    },
    session,
    { ...(options.signal ? { signal: options.signal } : {}) },
  );
  try {
    return await runRounds(hooks, binding, {
      ...rounds,
      // The same write-ahead order as the engine: the caller's intent first, then the ownership record.
      beforeWrites: async (decision, writes) => {
        await rounds.beforeWrites?.(decision, writes);
        await seam.recordIntent(binding, BINDING_KIND, writes, {});
      },
    });
  } finally {
    seam.close(session);
  }
}

/** An API's service principal and app roles do not change within a pass: look each up once, not once a round. */
function withServicePrincipalCache(ports: BindingPorts): BindingPorts {
  const cache = new Map<string, ReturnType<BindingPorts["graph"]["findServicePrincipal"]>>();
  return {
    ...ports,
    // Explicit delegation: adapters are class instances, whose methods an object spread would not copy.
    graph: {
      listAppRoleAssignedTo: (id, call) => ports.graph.listAppRoleAssignedTo(id, call),
      createAppRoleAssignment: (r, p, a, call) => ports.graph.createAppRoleAssignment(r, p, a, call),
      deleteAppRoleAssignment: (r, id, call) => ports.graph.deleteAppRoleAssignment(r, id, call),
      findServicePrincipal: (api, call) => {
        let found = cache.get(api);
        if (!found) {
          found = ports.graph.findServicePrincipal(api, call);
          cache.set(api, found);
          found.catch(() => cache.delete(api));
        }
        return found;
      },
    },
  };
}

/** Grants the record held before settling that it no longer holds: Azure lost them since the last pass. */
function lostSince(before: BindingRecord | undefined, after: BindingRecord | undefined): string[] {
  if (!before) return [];
  const rbac = new Set((after?.rbac ?? []).map((r) => r.id.toLowerCase()));
  const graph = new Set((after?.graph ?? []).map((g) => g.assignmentId ?? ""));
  return [
    ...before.rbac
      .filter((r) => !rbac.has(r.id.toLowerCase()))
      .map((r) => lostRbacKey(r.scope, r.roleDefinitionId, r.principalId)),
    ...before.graph
      .filter((g) => g.state === "created" && g.assignmentId && !graph.has(g.assignmentId))
      .map((g) => lostGraphKey(g.resourceId, g.appRoleId, g.principalId)),
  ];
}
