/**
 * The operator's ownership records on the API server: one record per binding and per JWT policy (keyed by
 * namespace/name) and one claim per Logic App, all in the records namespace. The rules are pure in ./ownership.ts;
 * this module only reads and writes.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { isNotFound, type KubeClient } from "../../runtime/client.ts";
import { RetryableError } from "../../runtime/reconciler.ts";
import { objectRecordKey, RecordStore, type StoredRecord } from "../../runtime/records.ts";
import { BINDING_RESOURCE } from "../resources.ts";
import {
  BINDING_RECORD_KIND,
  canonicalLogicAppId,
  CLAIM_RECORD_KIND,
  decideClaim,
  JWT_POLICY_RECORD_KIND,
  parseBindingRecord,
  parseClaimRecord,
  parseJwtPolicyRecord,
  type BindingRecord,
  type ClaimCandidate,
  type ClaimDecision,
  type ClaimRecord,
  type JwtPolicyRecord,
  type ObjectIdentity,
} from "./ownership.ts";

export interface OwnershipStores {
  bindings: RecordStore<BindingRecord>;
  jwtPolicies: RecordStore<JwtPolicyRecord>;
  claims: RecordStore<ClaimRecord>;
}

export function createOwnershipStores(client: KubeClient, recordsNamespace: string): OwnershipStores {
  return {
    bindings: new RecordStore({
      client,
      namespace: recordsNamespace,
      kind: BINDING_RECORD_KIND,
      parse: parseBindingRecord,
    }),
    jwtPolicies: new RecordStore({
      client,
      namespace: recordsNamespace,
      kind: JWT_POLICY_RECORD_KIND,
      parse: parseJwtPolicyRecord,
    }),
    claims: new RecordStore({
      client,
      namespace: recordsNamespace,
      kind: CLAIM_RECORD_KIND,
      parse: parseClaimRecord,
    }),
  };
}

/** The record key of a binding or policy. */
export const recordKeyOf = (o: { namespace: string; name: string }): string =>
  objectRecordKey(o.namespace, o.name);

/** The claim key of a Logic App. */
export const claimKeyOf = (logicAppId: string): string => canonicalLogicAppId(logicAppId);

export interface ClaimOutcome {
  decision: ClaimDecision;
  /** The claim as stored after this call (undefined when none exists). */
  claim: StoredRecord<ClaimRecord> | undefined;
}

export interface ClaimInput {
  claims: RecordStore<ClaimRecord>;
  /** Used to confirm, on the API server rather than in a cache that may lag, that a claim's holder is gone. */
  client: KubeClient;
  self: ClaimCandidate;
  /** The cached bindings, or (issue 12) a function of the claim read giving only those the decision needs. */
  bindingsInCache: readonly ClaimCandidate[] | ClaimPeers;
  signal: AbortSignal;
}

/**
 * The cached bindings decideClaim needs once the claim is read: those on the same Logic App, and the claim's
 * holder (`holder` undefined when there is no claim). Walking the whole cache instead made passes O(N) each.
 */
export type ClaimPeers = (holder: ObjectIdentity | undefined) => readonly ClaimCandidate[];

async function holderExists(client: KubeClient, claim: ClaimRecord, signal: AbortSignal): Promise<boolean> {
  try {
    await client.request<LogicAppIdentityBinding>(
      "GET",
      client.objectPath(BINDING_RESOURCE, { namespace: claim.namespace, name: claim.name }),
      { signal },
    );
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Reads the Logic App's claim, decides with decideClaim and performs the write it asks for. A lost create race is
 * decided again with the winner's claim; a lost takeover race is a RetryableError (the next pass re-reads).
 * Before a takeover from another holder, the holder's absence is confirmed with a live GET: the cache may not have
 * seen a binding created a moment ago, and taking its claim would give one Logic App two owners.
 */
export async function claimLogicApp(input: ClaimInput): Promise<ClaimOutcome> {
  const { claims, self, signal } = input;
  const key = claimKeyOf(self.logicAppId);
  const mine: ClaimRecord = {
    logicAppId: key,
    namespace: self.namespace,
    name: self.name,
    uid: self.uid,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await claims.get(key, signal);
    const peers = input.bindingsInCache;
    const bindingsInCache = typeof peers === "function" ? peers(current?.data) : peers;
    let decision = decideClaim({ self, bindingsInCache, claim: current?.data });
    if (!decision.owner) return { decision, claim: current };
    if (decision.write === "none") return { decision, claim: current };
    if (decision.write === "create") {
      const created = await claims.create(key, mine, signal);
      if (created) return { decision, claim: created };
      continue;
    }
    // takeover
    if (current && recordKeyOf(current.data) !== recordKeyOf(self)) {
      if (await holderExists(input.client, current.data, signal)) {
        const holder = recordKeyOf(current.data);
        decision = { owner: false, holder };
        return { decision, claim: current };
      }
    }
    const written = await claims.put(key, mine, current?.resourceVersion, signal);
    return { decision, claim: written };
  }
  throw new RetryableError(`claim on ${key} changed twice while deciding`);
}

/** Releases a claim only if `self` holds it (by namespace/name), at the version read, so a new owner is never undone. */
export async function releaseClaim(
  claims: RecordStore<ClaimRecord>,
  self: ObjectIdentity,
  logicAppId: string,
  signal: AbortSignal,
): Promise<boolean> {
  const key = claimKeyOf(logicAppId);
  const current = await claims.get(key, signal);
  if (!current || recordKeyOf(current.data) !== recordKeyOf(self)) return false;
  await claims.delete(key, current.resourceVersion, signal);
  return true;
}
