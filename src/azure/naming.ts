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

/**
 * APIM policy fragment ID rules (arm-apimanagement 10 / apimpolicyfragments.json 2024-05-01, parameter `id`):
 * 1-80 characters matching `(^[\w]+$)|(^[\w][\w\-]+[\w]$)`, so word characters and inner hyphens only.
 */
const FRAGMENT_ID_MAX = 80;
const FRAGMENT_PREFIX = "laio-";
/** 16 hex digits = 64 bits: a collision between two objects' IDs needs ~2^32 objects on one service. */
const FRAGMENT_HASH_HEX = 16;

/**
 * APIM policy fragment ID for an ApimJwtPolicy: a readable prefix for people reading the portal, then a hash of the
 * exact namespace, name and UID. Mapping characters to `-` alone made `team-a/orders`, `team/a-orders` and
 * `team/a.orders` one ID, so one namespace could overwrite another's validate-jwt; the hash input keeps the `/`
 * that neither a namespace nor a name can contain, so distinct objects never share an ID, and a recreated object
 * (new UID) never inherits a fragment its predecessor left behind.
 */
export function fragmentId(namespace: string, name: string, uid: string): string {
  const digest = createHash("sha256")
    .update(`${namespace}/${name}/${uid}`)
    .digest("hex")
    .slice(0, FRAGMENT_HASH_HEX);
  const room = FRAGMENT_ID_MAX - FRAGMENT_PREFIX.length - 1 - FRAGMENT_HASH_HEX;
  const readable = `${namespace}-${name}`
    .replace(/[^A-Za-z0-9]+/g, "-")
    .slice(0, room)
    .replace(/^-+|-+$/g, "");
  return `${FRAGMENT_PREFIX}${readable ? `${readable}-` : ""}${digest}`;
}

/**
 * The fragment ID versions before issue 11 used (ambiguous: see fragmentId). Kept only so the reconciler can find
 * and migrate fragments those versions created; never use it to name a new fragment.
 */
export function legacyFragmentId(namespace: string, name: string): string {
  const base = `laio-${namespace}-${name}`.replace(/[^A-Za-z0-9-]/g, "-");
  if (base.length <= 80) return base;
  const digest = createHash("sha256").update(`${namespace}/${name}`).digest("hex").slice(0, 10);
  return `${base.slice(0, 69)}-${digest}`;
}

export interface FragmentOwner {
  namespace: string;
  name: string;
  uid: string;
}

const MANAGED_BY = "managed-by=logicapp-identity-operator";

/**
 * The description the operator writes on every fragment it creates. The fragment itself is the record of who owns
 * it (ADR 0014): it survives a lost or forged status, and it is read again before every PUT and DELETE.
 */
export function fragmentOwnerMarker(namespace: string, name: string, uid: string): string {
  return `${MANAGED_BY}; owner=${namespace}/${name}; uid=${uid}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The owner a fragment's description names, or undefined when it is not one of ours (no marker, or a marker that
 * does not parse). Other `key=value` fields are ignored; a repeated key makes the marker ambiguous, so undefined.
 */
export function parseFragmentOwner(description: string | undefined): FragmentOwner | undefined {
  if (description === undefined) return undefined;
  const fields = description.split(";").map((f) => f.trim());
  if (fields[0] !== MANAGED_BY) return undefined;
  const values = new Map<string, string>();
  for (const field of fields.slice(1)) {
    if (field === "") continue;
    const eq = field.indexOf("=");
    if (eq <= 0) return undefined;
    const key = field.slice(0, eq).trim();
    if (values.has(key)) return undefined;
    values.set(key, field.slice(eq + 1).trim());
  }
  const owner = values.get("owner");
  const uid = values.get("uid");
  if (owner === undefined || uid === undefined || uid === "") return undefined;
  const slash = owner.indexOf("/");
  if (slash < 0) return undefined;
  const namespace = owner.slice(0, slash);
  const name = owner.slice(slash + 1);
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) return undefined;
  if (name === "" || name.includes("/") || /\s/.test(name)) return undefined;
  return { namespace, name, uid };
}
