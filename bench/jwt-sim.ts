/**
 * The ApimJwtPolicy side of the benchmark's simulated operator (./operator-sim.ts): one policy pinned to each of
 * some bindings (`bindingRef`: the rule's `oid` claim admits only the binding's current principal), each on its
 * own API operation, run through the JWT kind's Kubernetes-free pass (`jwtPolicyPass` + `runRounds`, as
 * test/unit/converge-jwt.test.ts does) over the same ports as the bindings — the inventory's APIM ETag watch
 * included. As in the operator, where the JWT controller watches bindings, a binding pass that changes the
 * binding's status wakes the policy that references it; a pass that waits or fails is retried on a timer.
 */
import type { RunningEmulator } from "../emulator/index.ts";
import {
  FINALIZER,
  rfc3339,
  type ApimJwtPolicy,
  type LogicAppIdentityBinding,
} from "../src/api/v1alpha1/index.ts";
import { fragmentId } from "../src/azure/naming.ts";
import type { JwtPolicyRecord } from "../src/controllers/shared/ownership.ts";
import { recheckAfterMs, runRounds } from "../src/controllers/shared/rounds.ts";
import { jwtPolicyPass } from "../src/controllers/jwt-policy/kind.ts";
import { memoryRecordStore } from "../src/runtime/records.ts";
import type { SimOperator } from "./operator-sim.ts";
import { SimQueue } from "./sim-queue.ts";

export interface ApimIds {
  serviceId: string;
  apiId: string;
  tenantId: string;
}

const operationOf = (bindingKey: string) => `op-${bindingKey.replace(/[^a-z0-9]/gi, "-")}`;

/** A policy per binding key, pinned to it, on an operation of its own (seeded in the emulator first). */
export async function seedPinnedPolicies(
  emu: RunningEmulator,
  apim: ApimIds,
  bindings: ReadonlyMap<string, LogicAppIdentityBinding>,
  keys: readonly string[],
): Promise<Map<string, ApimJwtPolicy>> {
  const out = new Map<string, ApimJwtPolicy>();
  for (const key of keys) {
    const b = bindings.get(key)!;
    const operationId = operationOf(key);
    await emu.control.seedApimOperation({ serviceId: apim.serviceId, apiId: apim.apiId, operationId });
    out.set(key, {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "ApimJwtPolicy",
      metadata: {
        name: `jwt-${b.metadata.name}`,
        namespace: b.metadata.namespace!,
        uid: `jwt-${b.metadata.uid}`,
        generation: 1,
        finalizers: [FINALIZER],
      },
      spec: {
        apimServiceId: apim.serviceId,
        target: { apiId: apim.apiId, operationId },
        tenantId: apim.tenantId,
        bindingRef: { name: b.metadata.name },
      },
    });
  }
  return out;
}

/** The fragment id each policy owns, by binding key: where the heal is read from (APIM, not status). */
export function fragmentIds(policies: ReadonlyMap<string, ApimJwtPolicy>): Map<string, string> {
  return new Map(
    [...policies].map(([k, p]) => [k, fragmentId(p.metadata.namespace!, p.metadata.name, p.metadata.uid!)]),
  );
}

export class JwtSim {
  readonly #sim: SimOperator;
  readonly #policies: Map<string, ApimJwtPolicy>;
  readonly #records = memoryRecordStore<JwtPolicyRecord>("jwtpolicy");
  readonly #queue: SimQueue;

  constructor(sim: SimOperator, policies: Map<string, ApimJwtPolicy>) {
    this.#sim = sim;
    this.#policies = policies;
    this.#queue = new SimQueue(sim.opts.timeScale, (key) => this.#pass(key));
  }

  /** Failed passes by reason. */
  get failures(): ReadonlyMap<string, number> {
    return this.#queue.failures;
  }

  /** Runs `concurrency` workers; every binding status the simulated operator writes wakes its policy. */
  start(concurrency = 8): void {
    this.#sim.onStatus = (key) => {
      if (this.#policies.has(key)) this.#queue.enqueue(key);
    };
    this.#queue.start(concurrency);
    for (const k of this.#policies.keys()) this.#queue.enqueue(k);
  }

  async stop(): Promise<void> {
    this.#sim.onStatus = undefined;
    await this.#queue.stop();
  }

  async #pass(key: string): Promise<void> {
    const policy = this.#policies.get(key)!;
    const world = this.#sim.world;
    const hooks = jwtPolicyPass(
      policy,
      { ports: { apim: this.#sim.ports.apim, records: this.#records } },
      {},
      (ns, name) => world.bindings.get(`${ns}/${name}`),
    );
    const r = await runRounds(hooks, policy, { now: () => rfc3339(new Date()), maxRounds: 4 });
    if (r.status) policy.status = r.status;
    if (r.stoppedBy) {
      this.#queue.failed(key, r.stoppedBy);
      return;
    }
    // The engine's rule (waiting for the binding, stalled, rounds out with writes pending), else the resync; a
    // binding that becomes Ready wakes the policy through onStatus as well.
    const again = r.decision ? recheckAfterMs(r.decision) : undefined;
    this.#queue.succeeded(key, again ?? this.#sim.opts.resyncMs);
  }
}
