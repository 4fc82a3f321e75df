/**
 * Record stores for plan: reads go to the operator's records (in the cluster with --cluster, else nothing), writes
 * stay in memory for the pass. The kinds' gather settles and claims through their records; plan must not change
 * the cluster any more than Azure, so what a pass would write is kept here and dropped.
 */
import type { RecordAccess, StoredRecord } from "../../runtime/records.ts";

export function overlayRecords<T>(base: RecordAccess<T> | undefined): RecordAccess<T> {
  const written = new Map<string, StoredRecord<T> | null>();
  let version = 0;
  return {
    get: async (key, signal) => {
      const w = written.get(key);
      if (w !== undefined) return w === null ? undefined : structuredClone(w);
      return base ? base.get(key, signal) : undefined;
    },
    put: async (key, data) => {
      const r = { key, name: key, resourceVersion: `plan-${++version}`, data: structuredClone(data) };
      written.set(key, r);
      return structuredClone(r);
    },
    delete: async (key) => {
      written.set(key, null);
    },
  };
}

/** No records: a plan without a cluster knows of nothing the operator made before. */
export function noRecords<T>(): RecordAccess<T> {
  return overlayRecords<T>(undefined);
}
