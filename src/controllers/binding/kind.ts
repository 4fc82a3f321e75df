/**
 * LogicAppIdentityBinding as a kind of the pass engine: its gather, decide, apply and report, and the per-pass
 * state they share (apply failures and created Graph IDs carried to the next round, one service principal lookup
 * per API per pass). `converge` runs the same rounds without Kubernetes (benchmark, standalone, plan).
 */
import { BINDING_KIND, type BindingStatus, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { ownershipMarker, roleAssignmentName } from "../../azure/naming.ts";
import type { CallOptions } from "../../azure/ports.ts";
import { BINDING_RESOURCE } from "../resources.ts";
import type { TenancyFence } from "../tenancy/fence.ts";
import type { Kind } from "../shared/pass.ts";
import { runRounds, type PassHooks, type RoundsOptions, type RoundsResult } from "../shared/rounds.ts";
import { apply, report } from "./apply.ts";
import { decide } from "./decide.ts";
import { gather, type BindingPorts } from "./gather.ts";
import type { ApplyFailure, BindingAction, BindingNaming, BindingObservation } from "./model.ts";

export const NAMING: BindingNaming = { roleAssignmentName, ownershipMarker };

export interface BindingKindOptions {
  ports: BindingPorts;
  /** The AzureAccessPolicy fence; its verdicts go into the observation (the guard is wired in PassDeps). */
  tenancy?: TenancyFence;
  /** Poll while waiting for replication or a fresh identity. Default 5 s. */
  replicationPollMs?: number;
}

type BindingHooks = PassHooks<LogicAppIdentityBinding, BindingObservation, BindingAction, BindingStatus>;

export function bindingKind(
  options: BindingKindOptions,
): Kind<LogicAppIdentityBinding, BindingObservation, BindingAction, BindingStatus> {
  return {
    name: BINDING_KIND,
    resource: BINDING_RESOURCE,
    open: (obj, env) => bindingPass(obj, options, env.call),
  };
}

export function bindingPass(
  binding: Readonly<LogicAppIdentityBinding>,
  options: BindingKindOptions,
  call: CallOptions = {},
): BindingHooks {
  const ports = withServicePrincipalCache(options.ports);
  const logicAppId = binding.spec.logicAppId;
  let applyFailures: Record<string, ApplyFailure> = {};
  const created: string[] = [];
  return {
    gather: async (b) => {
      const observed = await gather(b, ports, { applyFailures, createdAppRoleAssignmentIds: created }, call);
      const tenancy = options.tenancy;
      return tenancy && b.metadata.deletionTimestamp === undefined
        ? { ...observed, tenancy: tenancy.bindingVerdicts(b, observed) }
        : observed;
    },
    decide: (b, observed, now) =>
      decide(b, observed, {
        now,
        naming: NAMING,
        ...(options.replicationPollMs !== undefined ? { replicationPollMs: options.replicationPollMs } : {}),
      }),
    apply: async (actions) => {
      const r = await apply(actions, ports, logicAppId, call);
      applyFailures = { ...applyFailures, ...r.failures };
      created.push(...r.createdAppRoleAssignmentIds);
      return r;
    },
    report: (r) => report(r, logicAppId),
    // The next round decides from what this round established (e.g. that this binding turned the identity on).
    carryStatus: true,
    // Graph assignments carry no name: the intent in status is how a pass whose final write fails knows its own.
    needsWriteAhead: (writes) => writes.some((a) => a.type === "createAppRoleAssignment"),
  };
}

/** One binding pass without Kubernetes. */
export function converge(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  options: RoundsOptions<LogicAppIdentityBinding, BindingAction, BindingStatus> & {
    replicationPollMs?: number;
  },
): Promise<RoundsResult<BindingAction, BindingStatus>> {
  const { replicationPollMs, ...rounds } = options;
  const hooks = bindingPass(
    binding,
    {
      ports,
      ...(replicationPollMs !== undefined ? { replicationPollMs } : {}),
    },
    { ...(options.signal ? { signal: options.signal } : {}) },
  );
  return runRounds(hooks, binding, rounds);
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
