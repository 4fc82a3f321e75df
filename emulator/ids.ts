import { randomBytes, randomUUID } from "node:crypto";

export const newGuid = (): string => randomUUID();

export const isGuid = (s: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** Azure prints principal ids in some messages as 32 hex digits without dashes. */
export const compactGuid = (s: string): string => s.replace(/-/g, "").toLowerCase();

/** Lower-case key for case-insensitive ARM ids. */
export const key = (id: string): string => id.toLowerCase().replace(/\/+$/, "");

/** ISO timestamp with the 7 fractional digits that .NET services print. */
export function azureTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
}

/** Bytes of a GUID in .NET's `Guid.ToByteArray()` order (first three groups little-endian). */
function dotnetGuidBytes(guid: string): Buffer {
  const hex = compactGuid(guid);
  const b = Buffer.from(hex, "hex");
  const swap = (start: number, len: number) => b.subarray(start, start + len).reverse();
  swap(0, 4);
  swap(4, 2);
  swap(6, 2);
  return b;
}

/**
 * Graph appRoleAssignment ids are base64url of the principal's object id (in .NET byte order) followed by
 * 16 more bytes: the example `-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc` starts with principal 33ad69f9-….
 */
export function appRoleAssignmentId(principalId: string): string {
  return Buffer.concat([dotnetGuidBytes(principalId), randomBytes(16)]).toString("base64url");
}

/** Logic Apps `version` is a 20-digit tick-like number. */
export function workflowVersion(d: Date = new Date()): string {
  const ticks = BigInt(d.getTime()) * 10000n + 621355968000000000n;
  return (3155378975999999999n - ticks).toString().padStart(20, "0");
}

/** APIM entity tags look like base64 of an 8-byte counter, e.g. `AAAAAAAAAAa=`. */
export function apimEtag(counter: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(counter));
  return b.toString("base64");
}
