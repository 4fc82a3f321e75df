/**
 * A small JSON record store on ConfigMaps in one namespace that only the operator may write (its own namespace: the
 * chart grants configmaps there to the operator's service account and to nobody else). It exists because a record
 * kept in an object's `status` can be written by anyone with a `*` rule on the status subresource and is lost on
 * backup/restore; see docs/adr/0015-ownership-records.md.
 *
 * One ConfigMap per (record kind, key). Names are derived deterministically so a retry, a second leader or a restart
 * finds the same record without listing; writes carry the resourceVersion they were based on, so a lost update
 * becomes a 409 that the work queue retries (RetryableError) instead of a silent overwrite.
 */
import { createHash } from "node:crypto";
import { isConflict, isNotFound, type KubeClient, type KubeList } from "./client.ts";
import { RetryableError } from "./reconciler.ts";
import { collectionPath, type ResourceType } from "./resource.ts";

export const CONFIGMAP: ResourceType = {
  group: "",
  version: "v1",
  plural: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
};

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "logicapp-identity-operator";
export const RECORD_KIND_LABEL = "identity.logicapp.dev/record-kind";
/** The unhashed key, so a hash collision is detected instead of silently sharing a record. */
export const RECORD_KEY_ANNOTATION = "identity.logicapp.dev/record-key";
export const PAYLOAD_KEY = "record.json";

/** ConfigMap names are DNS-1123 subdomains of at most 253 characters. */
export const MAX_NAME = 253;
const HASH_CHARS = 20;
const KIND = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

function readable(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * `<kind>-<readable key>-<hash>`: the readable part is for people running kubectl and may lose information
 * (`team-a/orders` and `team/a-orders` read the same); the hash over the exact (kind, key) is what makes it unique.
 */
export function recordName(kind: string, key: string): string {
  if (!KIND.test(kind)) throw new Error(`record kind "${kind}" is not a short DNS label`);
  const hash = createHash("sha256").update(`${kind}\u0000${key}`).digest("hex").slice(0, HASH_CHARS);
  const room = MAX_NAME - kind.length - HASH_CHARS - 2;
  const middle = readable(key)
    .slice(0, room - 1)
    .replace(/-+$/, "");
  return middle ? `${kind}-${middle}-${hash}` : `${kind}-${hash}`;
}

/** An object's record key: "/" cannot occur in a namespace, so (namespace, name) maps to one string only. */
export function objectRecordKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export interface StoredRecord<T> {
  key: string;
  /** The ConfigMap's name. */
  name: string;
  /** Pass it back to put/delete: a write based on an older version fails with RetryableError. */
  resourceVersion: string;
  data: T;
}

/** What a reconciler needs of a record store: RecordStore is one; memoryRecordStore is one without an API server. */
export interface RecordAccess<T> {
  get(key: string, signal: AbortSignal): Promise<StoredRecord<T> | undefined>;
  /** `resourceVersion` undefined creates; a stale one throws RetryableError. */
  put(
    key: string,
    data: T,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<StoredRecord<T>>;
  delete(key: string, resourceVersion: string | undefined, signal: AbortSignal): Promise<void>;
}

/**
 * The store's contract in memory (a write names the version it read; a stale one is a RetryableError), for passes
 * without Kubernetes (converge: benchmark, plan, unit tests). `data` is exposed for tests to inspect.
 */
export function memoryRecordStore<T>(kind: string): RecordAccess<T> & { data: Map<string, StoredRecord<T>> } {
  const data = new Map<string, StoredRecord<T>>();
  let version = 0;
  const stale = (key: string) => new RetryableError(`${kind} record ${key} changed meanwhile`);
  return {
    data,
    get: async (key) => {
      const r = data.get(key);
      return r ? structuredClone(r) : undefined;
    },
    put: async (key, value, resourceVersion) => {
      if (data.get(key)?.resourceVersion !== resourceVersion) throw stale(key);
      const r = { key, name: key, resourceVersion: String(++version), data: structuredClone(value) };
      data.set(key, r);
      return structuredClone(r);
    },
    delete: async (key, resourceVersion) => {
      const cur = data.get(key);
      if (!cur) return;
      if (resourceVersion !== undefined && cur.resourceVersion !== resourceVersion) throw stale(key);
      data.delete(key);
    },
  };
}

export interface ConfigMapObject {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

export interface RecordStoreOptions<T> {
  client: KubeClient;
  /** The records namespace (`--records-namespace`). */
  namespace: string;
  /** Short DNS label naming the record kind, e.g. "binding", "claim". */
  kind: string;
  /** Checks a parsed payload and returns it typed; throws on a malformed one. */
  parse: (value: unknown) => T;
}

export class RecordCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordCorruptError";
  }
}

/** get / put / delete / list of one record kind. Every call takes the reconcile's abort signal. */
export class RecordStore<T> {
  readonly namespace: string;
  readonly kind: string;
  private readonly client: KubeClient;
  private readonly parse: (value: unknown) => T;

  constructor(options: RecordStoreOptions<T>) {
    this.client = options.client;
    this.namespace = options.namespace;
    this.kind = options.kind;
    this.parse = options.parse;
  }

  nameOf(key: string): string {
    return recordName(this.kind, key);
  }

  private path(name?: string): string {
    const base = collectionPath(CONFIGMAP, this.namespace);
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async get(key: string, signal: AbortSignal): Promise<StoredRecord<T> | undefined> {
    try {
      const cm = await this.client.request<ConfigMapObject>("GET", this.path(this.nameOf(key)), { signal });
      return this.decode(cm, key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Create-or-update with a precondition: `resourceVersion` undefined means "I saw no record" (a create, which fails
   * if someone created it meanwhile); otherwise the update applies only to that version. Either conflict is a
   * RetryableError: the next pass reads the record again.
   */
  async put(
    key: string,
    data: T,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<StoredRecord<T>> {
    const body = this.encode(key, data, resourceVersion);
    try {
      const cm =
        resourceVersion === undefined
          ? await this.client.request<ConfigMapObject>("POST", this.path(), { body, signal })
          : await this.client.request<ConfigMapObject>("PUT", this.path(body.metadata.name), {
              body,
              signal,
            });
      return this.decode(cm, key);
    } catch (err) {
      // A PUT whose record was deleted meanwhile is 404: the same lost race as a 409, seen from the other side.
      if (isConflict(err) || (resourceVersion !== undefined && isNotFound(err)))
        throw new RetryableError(`${this.kind} record ${key} changed meanwhile`, { cause: err });
      throw err;
    }
  }

  /** A plain create: undefined when the record already exists (the API server decides a race, not our cache). */
  async create(key: string, data: T, signal: AbortSignal): Promise<StoredRecord<T> | undefined> {
    try {
      const cm = await this.client.request<ConfigMapObject>("POST", this.path(), {
        body: this.encode(key, data, undefined),
        signal,
      });
      return this.decode(cm, key);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  /** Deleting a record that is gone is not an error; with `resourceVersion`, only that version is deleted. */
  async delete(key: string, resourceVersion: string | undefined, signal: AbortSignal): Promise<void> {
    const body =
      resourceVersion === undefined
        ? undefined
        : { apiVersion: "v1", kind: "DeleteOptions", preconditions: { resourceVersion } };
    try {
      await this.client.request("DELETE", this.path(this.nameOf(key)), {
        ...(body ? { body } : {}),
        signal,
      });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err))
        throw new RetryableError(`${this.kind} record ${key} changed meanwhile`, { cause: err });
      throw err;
    }
  }

  /** Every record of this kind (one list call by label). */
  async list(signal: AbortSignal): Promise<StoredRecord<T>[]> {
    const out: StoredRecord<T>[] = [];
    let cont: string | undefined;
    do {
      const page = await this.client.request<KubeList<ConfigMapObject>>("GET", this.path(), {
        query: {
          labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${RECORD_KIND_LABEL}=${this.kind}`,
          limit: 500,
          continue: cont,
        },
        signal,
      });
      for (const cm of page.items) {
        const key = cm.metadata.annotations?.[RECORD_KEY_ANNOTATION];
        if (key !== undefined) out.push(this.decode(cm, key));
      }
      cont = page.metadata.continue || undefined;
    } while (cont);
    return out;
  }

  private encode(key: string, data: T, resourceVersion: string | undefined): ConfigMapObject {
    return {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: this.nameOf(key),
        namespace: this.namespace,
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [RECORD_KIND_LABEL]: this.kind },
        annotations: { [RECORD_KEY_ANNOTATION]: key },
      },
      data: { [PAYLOAD_KEY]: JSON.stringify(data) },
    };
  }

  private decode(cm: ConfigMapObject, key: string): StoredRecord<T> {
    const where = `${this.namespace}/${cm.metadata.name}`;
    const storedKey = cm.metadata.annotations?.[RECORD_KEY_ANNOTATION];
    if (storedKey !== key)
      throw new RecordCorruptError(
        `record ${where} is for key "${storedKey}", not "${key}" (hash collision?)`,
      );
    const text = cm.data?.[PAYLOAD_KEY];
    if (text === undefined) throw new RecordCorruptError(`record ${where} has no ${PAYLOAD_KEY}`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new RecordCorruptError(`record ${where}: ${PAYLOAD_KEY} is not JSON (${String(err)})`);
    }
    let data: T;
    try {
      data = this.parse(value);
    } catch (err) {
      throw new RecordCorruptError(`record ${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { key, name: cm.metadata.name, resourceVersion: cm.metadata.resourceVersion ?? "", data };
  }
}
