/**
 * Deterministic names for everything the operator creates in Azure, so a retry or a second leader can never
 * create a duplicate (controller-runtime FAQ; the opposite of Azure Service Operator's principal-less names).
 */
import { createHash } from "node:crypto";

/** Fixed namespace for the operator's name-based UUIDs (RFC 9562 v5). */
const NAMESPACE = "0f5b6a9e-4f44-4b8e-9c0b-6c1a8f1d2e37";

export function uuidV5(name: string, namespace = NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const hash = createHash("sha1").update(ns).update(Buffer.from(name, "utf8")).digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Role assignment name from (scope, role definition, principal): a new principal gets a new name. */
export function roleAssignmentName(scope: string, roleDefinitionId: string, principalId: string): string {
  return uuidV5(`${scope.toLowerCase()}|${roleDefinitionId.toLowerCase()}|${principalId.toLowerCase()}`);
}

/** Marker written into the description of every assignment the operator creates, to find its orphans later. */
export function ownershipMarker(namespace: string, name: string, uid: string): string {
  return `managed-by=logicapp-identity-operator; binding=${namespace}/${name}; uid=${uid}`;
}

/** APIM policy fragment ID for an ApimJwtPolicy: 1-80 chars, letters, digits and hyphens. */
export function fragmentId(namespace: string, name: string): string {
  const base = `laio-${namespace}-${name}`.replace(/[^A-Za-z0-9-]/g, "-");
  if (base.length <= 80) return base;
  const digest = createHash("sha256").update(`${namespace}/${name}`).digest("hex").slice(0, 10);
  return `${base.slice(0, 69)}-${digest}`;
}
