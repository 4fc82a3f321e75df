/**
 * The record store's contract in memory (runtime/records.ts RecordStore: a write names the version it read, a stale
 * one is a RetryableError), for unit tests of the JWT kind without an API server. The real store is exercised on
 * the API server by test/cluster/records.test.ts and jwt-ownership.test.ts.
 */
import type { JwtPolicyRecord } from "../../src/controllers/shared/ownership.ts";
import { RetryableError } from "../../src/runtime/reconciler.ts";
import type { StoredRecord } from "../../src/runtime/records.ts";

export class MemoryRecords {
  readonly data = new Map<string, StoredRecord<JwtPolicyRecord>>();
  private version = 1;

  async get(key: string): Promise<StoredRecord<JwtPolicyRecord> | undefined> {
    return this.data.get(key);
  }

  async put(
    key: string,
    data: JwtPolicyRecord,
    resourceVersion: string | undefined,
  ): Promise<StoredRecord<JwtPolicyRecord>> {
    if (this.data.get(key)?.resourceVersion !== resourceVersion)
      throw new RetryableError(`jwtpolicy record ${key} changed meanwhile`);
    const stored = { key, name: key, resourceVersion: String(this.version++), data: structuredClone(data) };
    this.data.set(key, stored);
    return stored;
  }

  async delete(key: string, resourceVersion: string | undefined): Promise<void> {
    const cur = this.data.get(key);
    if (!cur) return;
    if (resourceVersion !== undefined && cur.resourceVersion !== resourceVersion)
      throw new RetryableError(`jwtpolicy record ${key} changed meanwhile`);
    this.data.delete(key);
  }
}
