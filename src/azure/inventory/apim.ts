/**
 * The APIM part of the inventory: every policy document and fragment an ApimJwtPolicy has read, held with its ETag.
 * Policy documents have no service-wide list, so a refresh sends one HEAD per held target — the `*Policy_GetEntityTag`
 * operations of the API Management REST spec (2024-05-01; official example ApiManagementHeadApiPolicy.json: 200 with
 * only an `etag` header, 404 when absent). Fragments do: `PolicyFragment_ListByService` carries each fragment's
 * document but no ETag (official example ApiManagementListPolicyFragments.json), so a refresh lists each service
 * once and compares a digest of every held fragment's listed document with the previous list's. A tag or digest that
 * moved (someone edited the fragment or the include in the portal), a document that appeared or went, drops the held
 * body and is reported, so only the policies that depend on it are enqueued; the JWT kind's next pass GETs it once.
 * Steady state per interval: one HEAD per target and one fragment list per service (pages), 0 GETs.
 */
import { createHash } from "node:crypto";
import type {
  ApimPolicyTarget,
  ApimPort,
  AzureListings,
  FragmentDocument,
  PolicyDocument,
} from "../ports.ts";

/** The label ApimJwtPolicy status uses for a target (decide.targetLabel), so status and spec name it alike. */
function label(t: Omit<ApimPolicyTarget, "serviceId">): string {
  if (t.apiId && t.operationId) return `api/${t.apiId}/operation/${t.operationId}`;
  if (t.apiId) return `api/${t.apiId}`;
  if (t.productId) return `product/${t.productId}`;
  return "global";
}

/** One policy document in APIM (APIM IDs are case-insensitive). */
export const apimTargetRef = (t: ApimPolicyTarget): string => `apim:${t.serviceId}|${label(t)}`.toLowerCase();
export const apimLabelRef = (serviceId: string, targetLabel: string): string =>
  `apim:${serviceId}|${targetLabel}`.toLowerCase();
export const apimFragmentRef = (serviceId: string, id: string): string =>
  `apimFragment:${serviceId}|${id}`.toLowerCase();

export type ApimChange = {
  kind: "apim";
  /** apimTargetRef / apimFragmentRef of ./depends-on.ts. */
  ref: string;
  what: "appeared" | "changed" | "gone";
};

/** Digest of a fragment's document as the service lists it: what consecutive lists are compared by. */
const digest = (value: string): string => createHash("sha256").update(value).digest("base64");

type HeldFragment = {
  serviceId: string;
  fragmentId: string;
  held: Held<FragmentDocument>;
  /** The last list's digest; null: not listed (absent); undefined: nothing to compare with yet. */
  listed: string | null | undefined;
};

type Held<D> = {
  /** undefined: APIM has no such document (404). */
  etag: string | undefined;
  /** The body last read or written; undefined while only the tag is known (a write without echo, a moved tag). */
  doc: D | undefined;
  absent: boolean;
  takenAt: number;
  /** Bumped by every write through the port, so a HEAD that raced a write is not taken for someone else's edit. */
  version: number;
};

/** ETags compared as APIM's opaque values: W/ and quotes are transport, not identity. */
const bare = (t: string | undefined): string | undefined =>
  t === undefined ? undefined : t.trim().replace(/^W\//, "").replace(/^"|"$/g, "");

export interface ApimWatchOptions {
  now: () => number;
  fresh: (takenAt: number) => boolean;
  onError?: (err: unknown, source: string) => void;
  stats: { hits: number; misses: number };
}

export class ApimWatch {
  readonly #listings: AzureListings;
  readonly #o: ApimWatchOptions;
  readonly #policies = new Map<string, { target: ApimPolicyTarget; held: Held<PolicyDocument> }>();
  readonly #fragments = new Map<string, HeldFragment>();

  constructor(listings: AzureListings, options: ApimWatchOptions) {
    this.#listings = listings;
    this.#o = options;
  }

  /** Entities held, by kind (a metric). */
  sizes(): { policies: number; fragments: number } {
    return { policies: this.#policies.size, fragments: this.#fragments.size };
  }

  /** The oldest HEAD among held entities (a freshness stamp); undefined when nothing is held. */
  oldest(): number | undefined {
    let min: number | undefined;
    for (const e of [...this.#policies.values(), ...this.#fragments.values()])
      if (min === undefined || e.held.takenAt < min) min = e.held.takenAt;
    return min;
  }

  async refresh(): Promise<ApimChange[]> {
    const out: ApimChange[] = [];
    const check = async <D>(
      ref: string,
      held: Held<D>,
      head: () => Promise<string | undefined>,
    ): Promise<void> => {
      const version = held.version;
      const startedAt = this.#o.now();
      let tag: string | undefined;
      try {
        tag = await head();
      } catch (e) {
        this.#o.onError?.(e, ref);
        return;
      }
      // Written through us while the HEAD was in flight: what we hold is newer than what the HEAD saw.
      if (held.version !== version) return;
      const now = tag === undefined ? undefined : bare(tag);
      if (held.etag === undefined && !held.absent) {
        // Nothing known to compare with (never read, or our own write without an answer): adopt, do not report.
        held.etag = tag;
        held.absent = tag === undefined;
        return;
      }
      const was = held.absent ? undefined : bare(held.etag);
      held.takenAt = startedAt;
      if (was === now) return;
      out.push({
        kind: "apim",
        ref,
        what: now === undefined ? "gone" : held.absent ? "appeared" : "changed",
      });
      held.etag = tag;
      held.absent = tag === undefined;
      held.doc = undefined;
    };
    const byService = new Map<string, HeldFragment[]>();
    for (const e of this.#fragments.values()) {
      const k = e.serviceId.toLowerCase();
      const same = byService.get(k);
      if (same) same.push(e);
      else byService.set(k, [e]);
    }
    await Promise.all([
      ...[...this.#policies].map(([ref, e]) =>
        check(ref, e.held, () => this.#listings.apimPolicyTag(e.target)),
      ),
      ...[...byService.values()].map((entries) => this.#compareFragments(entries, out)),
    ]);
    return out;
  }

  /** One list of the service's fragments, compared with the previous list for every held fragment of it. */
  async #compareFragments(entries: HeldFragment[], out: ApimChange[]): Promise<void> {
    const versions = entries.map((e) => e.held.version);
    const startedAt = this.#o.now();
    let listed: Map<string, string>;
    try {
      const all = await this.#listings.apimFragments(entries[0]!.serviceId);
      listed = new Map(all.map((f) => [f.fragmentId.toLowerCase(), digest(f.value)]));
    } catch (e) {
      this.#o.onError?.(e, apimFragmentRef(entries[0]!.serviceId, "*"));
      return;
    }
    entries.forEach((e, i) => {
      const held = e.held;
      // Written through us while the list was in flight: what we hold is newer than what the list saw.
      if (held.version !== versions[i]) return;
      const now = listed.get(e.fragmentId.toLowerCase()) ?? null;
      const was = e.listed;
      e.listed = now;
      // Nothing to compare with (first list, or our own write since): adopt, do not report.
      if (was === undefined) return;
      held.takenAt = startedAt;
      if (was === now) return;
      out.push({
        kind: "apim",
        ref: apimFragmentRef(e.serviceId, e.fragmentId),
        what: now === null ? "gone" : was === null ? "appeared" : "changed",
      });
      held.absent = now === null;
      held.etag = undefined;
      held.doc = undefined;
    });
  }

  #policy(target: ApimPolicyTarget): Held<PolicyDocument> {
    const ref = apimTargetRef(target);
    let e = this.#policies.get(ref);
    if (!e) {
      e = { target: { ...target }, held: blank() };
      this.#policies.set(ref, e);
    }
    return e.held;
  }

  #fragment(serviceId: string, fragmentId: string): HeldFragment {
    const ref = apimFragmentRef(serviceId, fragmentId);
    let e = this.#fragments.get(ref);
    if (!e) {
      e = { serviceId, fragmentId, held: blank(), listed: undefined };
      this.#fragments.set(ref, e);
    }
    return e;
  }

  /** `inner` with reads served from what is held while fresh, and writes recorded (read-your-writes). */
  port(inner: ApimPort): ApimPort {
    const stats = this.#o.stats;
    const served = <D>(held: Held<D>): { hit: true; doc: D | undefined } | { hit: false } => {
      if (!this.#o.fresh(held.takenAt)) return { hit: false };
      if (held.absent) return { hit: true, doc: undefined };
      return held.doc ? { hit: true, doc: structuredClone(held.doc) } : { hit: false };
    };
    const learn = <D extends { etag: string }>(held: Held<D>, doc: D | undefined): void => {
      held.version++;
      held.takenAt = this.#o.now();
      held.absent = doc === undefined;
      held.etag = doc?.etag;
      held.doc = doc ? structuredClone(doc) : undefined;
    };
    /** The write's result is not known (no echo, or it failed): the next read asks APIM. */
    const forget = <D>(held: Held<D>): void => {
      held.version++;
      held.takenAt = 0;
      held.etag = undefined;
      held.doc = undefined;
      held.absent = false;
    };
    /** Served while fresh; otherwise read, and learnt unless a write moved the entry meanwhile. */
    const readThrough = async <D extends { etag: string }>(
      held: Held<D>,
      read: () => Promise<D | undefined>,
    ): Promise<D | undefined> => {
      const s = served(held);
      if (s.hit) {
        stats.hits++;
        return s.doc;
      }
      stats.misses++;
      const version = held.version;
      const doc = await read();
      if (held.version === version) learn(held, doc);
      return doc;
    };
    /** A delete that succeeded leaves a known absence; one that failed leaves nothing known. */
    const deleted = async <D extends { etag: string }>(
      held: Held<D>,
      remove: () => Promise<void>,
    ): Promise<void> => {
      try {
        await remove();
        learn(held, undefined);
      } catch (e) {
        forget(held);
        throw e;
      }
    };
    return {
      checkTarget: (target, call) => inner.checkTarget(target, call),
      getPolicy: (target, call) => readThrough(this.#policy(target), () => inner.getPolicy(target, call)),
      putPolicy: async (target, xml, ifMatch, call) => {
        const held = this.#policy(target);
        try {
          const doc = await inner.putPolicy(target, xml, ifMatch, call);
          // An empty tag (an answer without ETag) cannot be compared by the next HEAD: read it again instead.
          if (doc.etag) learn(held, doc);
          else forget(held);
          return doc;
        } catch (e) {
          forget(held);
          throw e;
        }
      },
      deletePolicy: (target, ifMatch, call) =>
        deleted(this.#policy(target), () => inner.deletePolicy(target, ifMatch, call)),
      getFragment: (serviceId, fragmentId, call) =>
        readThrough(this.#fragment(serviceId, fragmentId).held, () =>
          inner.getFragment(serviceId, fragmentId, call),
        ),
      putFragment: async (serviceId, fragmentId, xml, description, ifMatch, call) => {
        const e = this.#fragment(serviceId, fragmentId);
        try {
          await inner.putFragment(serviceId, fragmentId, xml, description, ifMatch, call);
        } finally {
          // The PUT does not hand back the new tag: the next read GETs the fragment (one read per write), and the
          // next list is the new baseline rather than someone else's edit.
          forget(e.held);
          e.listed = undefined;
        }
      },
      deleteFragment: async (serviceId, fragmentId, ifMatch, call) => {
        const e = this.#fragment(serviceId, fragmentId);
        try {
          await deleted(e.held, () => inner.deleteFragment(serviceId, fragmentId, ifMatch, call));
          e.listed = null;
        } catch (err) {
          e.listed = undefined;
          throw err;
        }
      },
    };
  }
}

function blank<D>(): Held<D> {
  return { etag: undefined, doc: undefined, absent: false, takenAt: 0, version: 0 };
}
