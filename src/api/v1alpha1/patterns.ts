/**
 * Regular expressions shared by the CRD schema (OpenAPI `pattern`, evaluated by the API server with Go's RE2)
 * and by the code (V8 on Node.js 24). Both engines support inline case-insensitive groups `(?i:...)`, which
 * matter because ARM resource IDs are case-insensitive (`resourcegroups` appears in official examples).
 */
import { armIdFragments, armIdPatterns } from "./arm-id.ts";

const GUID = armIdFragments.guid;
const SUB = `/(?i:subscriptions)/${GUID}`;
// Resource group names cannot end with a period, which also keeps `.` and `..` out (see arm-id.ts).
const SUB_RG = `${SUB}/(?i:resourceGroups)/${armIdFragments.resourceGroup}`;

export const patterns = {
  guid: `^${GUID}$`,
  /** Consumption (Microsoft.Logic/workflows) or Standard (Microsoft.Web/sites) Logic App. */
  logicAppId: `^${SUB_RG}/(?i:providers/(Microsoft\\.Logic/workflows|Microsoft\\.Web/sites))/[A-Za-z0-9][-\\w.()]{0,79}$`,
  userAssignedIdentityId: `^${SUB_RG}/(?i:providers/Microsoft\\.ManagedIdentity/userAssignedIdentities)/[A-Za-z0-9][-\\w]{2,127}$`,
  /** Any ARM scope a role can be assigned at: subscription, resource group, or a resource (or child) in one. */
  armScope: armIdPatterns.scope,
  /** A role name (e.g. "Key Vault Secrets User"), a role definition GUID, or its full resource ID. */
  role: `^([A-Za-z0-9][A-Za-z0-9 ._()/-]{0,127}|(${SUB})?/(?i:providers/Microsoft\\.Authorization/roleDefinitions)/${GUID})$`,
  /** An application (client) ID GUID, or an identifier URI such as api://orders or https://contoso.com/orders. */
  apiReference: `^(${GUID}|(api|https)://[A-Za-z0-9][-A-Za-z0-9._~:/?#@!$&'()*+,;=%]{0,250})$`,
  /** App role values: printable ASCII without spaces (Entra's rule for an app role's `value`). */
  appRoleValue: "^[!-~]{1,249}$",
  /** A managed API connection (Microsoft.Web/connections), whose access policy follows the identity. */
  connectionId: `^${SUB_RG}/(?i:providers/Microsoft\\.Web/connections)/[A-Za-z0-9][-\\w.]{0,79}$`,
  apimServiceId: `^${SUB_RG}/(?i:providers/Microsoft\\.ApiManagement/service)/[A-Za-z][A-Za-z0-9-]{0,49}$`,
  /** APIM entity identifiers (API, product, operation). */
  apimEntityId: "^[A-Za-z0-9][-A-Za-z0-9._~]{0,255}$",
  /** A Kubernetes object name (DNS subdomain). */
  objectName: "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
} as const;

export function matches(pattern: string, value: string): boolean {
  return new RegExp(pattern).test(value);
}
