/**
 * Will the workflow's call get through? A pure check of workflow definitions against what the binding set up:
 * every HTTP / API Management / Azure Functions action (at any depth: scopes, conditions, for-each, until, switch)
 * that authenticates with the managed identity is compared with the APIs the binding grants app roles on.
 *
 * Facts it rests on (docs/workflow-check.md, wire facts §11.6 and §14):
 * - Learn "Secure access and data in Azure Logic Apps" (logic-apps-securing-a-logic-app.md, "Managed identity
 *   authentication"): `authentication.type` is `ManagedServiceIdentity`; `identity` is the user-assigned identity's
 *   resource id and is left out for the system-assigned one (older versions print `"SystemAssigned"`); `audience`
 *   must match "exactly … the value that Microsoft Entra ID expects, including any required trailing slashes".
 * - Entra access-token claims reference: a resource app with `requestedAccessTokenVersion` 2 gets `aud` = its client
 *   id whatever was asked; with null/1 `aud` is the requested resource (identifier URI or client id). A token can be
 *   asked for by identifier URI or by client id, so both are accepted; the message suggests the one that `aud` will
 *   carry for the API's token version.
 * - The action's audience decides which resource it calls. An audience that is neither one of the binding's APIs nor
 *   a near miss of one (case, trailing slash) nor an `api://` URI is aimed at something else (ARM, Key Vault...) and
 *   is not this binding's business; an action calling the APIM gateway of a policy that references the binding is.
 * Expressions: `@parameters('x')` is resolved from the workflow's parameters; any other expression is not evaluated
 * and is counted as such, never guessed.
 */

export interface WorkflowDefinitionInput {
  /** The workflow's name as a person knows it (Consumption: the Logic App; Standard: the site's workflow). */
  workflow: string;
  /** `properties.definition` (Consumption) or `files["workflow.json"].definition` (Standard). */
  definition: unknown;
  /** Consumption `properties.parameters` (`{name: {value}}`), which override the definition's defaults. */
  parameters?: unknown;
}

export interface BoundApi {
  /** As the binding names it (identifier URI or appId). */
  api: string;
  appId?: string;
  identifierUris: string[];
  /** `api.requestedAccessTokenVersion` when known (ApplicationPort); null means v1 tokens. */
  tokenVersion?: 1 | 2 | null;
}

export type BoundIdentity = { type: "SystemAssigned" } | { type: "UserAssigned"; id: string };

export interface CheckInput {
  workflows: WorkflowDefinitionInput[];
  identity: BoundIdentity;
  apis: BoundApi[];
  /** Gateway hosts of the APIM services whose ApimJwtPolicies reference the binding (lower case); may be empty. */
  gatewayHosts?: string[];
  /** `workflow/action` keys a person silenced (annotation); compared case-insensitively. */
  ignored?: readonly string[];
}

export type MismatchKind = "audience" | "identity" | "host";

export interface Mismatch {
  workflow: string;
  /** The action's name; `path` adds the containers it is nested in. */
  action: string;
  path: string;
  kind: MismatchKind;
  message: string;
}

export interface CheckResult {
  /** Actions authenticating with the managed identity that call one of the binding's APIs (checked). */
  checked: number;
  mismatches: Mismatch[];
  /** Actions whose audience or identity is an expression this check does not evaluate. */
  notEvaluated: string[];
  /** Mismatches a person silenced by annotation. */
  ignored: number;
}

export interface MsiAction {
  name: string;
  path: string;
  type: string;
  uri?: string;
  audience?: string;
  identity?: string;
}

const CHECKED_TYPES = new Set(["http", "apimanagement", "function"]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Every managed-identity action of the checked types, depth first, with the containers it sits in. */
export function msiActions(definition: unknown): MsiAction[] {
  const out: MsiAction[] = [];
  const walk = (actions: unknown, prefix: string): void => {
    if (!isObject(actions)) return;
    for (const [name, raw] of Object.entries(actions)) {
      if (!isObject(raw)) continue;
      const path = prefix ? `${prefix}/${name}` : name;
      const type = str(raw.type) ?? "";
      const inputs = isObject(raw.inputs) ? raw.inputs : {};
      const auth = isObject(inputs.authentication) ? inputs.authentication : undefined;
      if (
        CHECKED_TYPES.has(type.toLowerCase()) &&
        auth &&
        /^(managedserviceidentity|managed identity)$/i.test(str(auth.type) ?? "")
      ) {
        const uri = str(inputs.uri) ?? (isObject(inputs.function) ? str(inputs.function.id) : undefined);
        out.push({
          name,
          path,
          type,
          ...(uri !== undefined ? { uri } : {}),
          ...(str(auth.audience) !== undefined ? { audience: str(auth.audience)! } : {}),
          ...(str(auth.identity) !== undefined ? { identity: str(auth.identity)! } : {}),
        });
      }
      // Scope, Foreach, Until and If (true branch) hold `actions`; If has `else.actions`; Switch has `cases.*.actions`
      // and `default.actions` (Workflow Definition Language schema reference).
      walk(raw.actions, path);
      if (isObject(raw.else)) walk(raw.else.actions, `${path}/else`);
      if (isObject(raw.cases))
        for (const [c, body] of Object.entries(raw.cases))
          if (isObject(body)) walk(body.actions, `${path}/${c}`);
      if (isObject(raw.default)) walk(raw.default.actions, `${path}/default`);
    }
  };
  walk(isObject(definition) ? definition.actions : undefined, "");
  return out;
}

/** `@parameters('x')` (or `@{parameters('x')}`) from the run-time value or the definition's default. */
function resolve(value: string | undefined, wf: WorkflowDefinitionInput): string | undefined | null {
  if (value === undefined) return undefined;
  if (!value.startsWith("@")) return value;
  const m = /^@\{?parameters\('([^']+)'\)\}?$/.exec(value);
  if (!m) return null;
  const name = m[1]!;
  const runtime = isObject(wf.parameters) ? wf.parameters[name] : undefined;
  if (isObject(runtime) && typeof runtime.value === "string") return runtime.value;
  const declared =
    isObject(wf.definition) && isObject(wf.definition.parameters)
      ? wf.definition.parameters[name]
      : undefined;
  if (isObject(declared) && typeof declared.defaultValue === "string") return declared.defaultValue;
  return null;
}

const norm = (s: string): string => s.toLowerCase().replace(/\/+$/, "");

function hostOf(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    return new URL(uri).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** The value `aud` will carry for this API, which is what a person should write. */
function suggested(api: BoundApi): string {
  if (api.tokenVersion === 2 && api.appId) return api.appId;
  return api.identifierUris[0] ?? api.appId ?? api.api;
}

function accepted(api: BoundApi): string[] {
  return [...api.identifierUris, ...(api.appId ? [api.appId] : [])];
}

function describeApi(api: BoundApi): string {
  const version = api.tokenVersion === 2 ? "v2 tokens, so aud is its client ID" : "v1 tokens";
  return `${api.api} (${version})`;
}

/** Checks one action against the binding; undefined when it does not call one of the binding's APIs. */
function checkAction(
  a: MsiAction,
  wf: WorkflowDefinitionInput,
  input: CheckInput,
): {
  relevant: boolean;
  notEvaluated?: string;
  mismatches: Omit<Mismatch, "workflow" | "action" | "path">[];
} {
  const audience = resolve(a.audience, wf);
  const uri = resolve(a.uri, wf);
  const identity = resolve(a.identity, wf);
  const host = hostOf(uri ?? undefined);
  const gateway = host !== undefined && (input.gatewayHosts ?? []).includes(host);
  if (audience === null || identity === null)
    return { relevant: true, notEvaluated: `${wf.workflow}/${a.path}`, mismatches: [] };
  const aud = audience ?? "https://management.azure.com/";
  const exact = input.apis.find((api) => accepted(api).includes(aud));
  const near = exact ? undefined : input.apis.find((api) => accepted(api).some((v) => norm(v) === norm(aud)));
  const customApi = /^api:\/\//i.test(aud);
  const relevant =
    exact !== undefined || near !== undefined || gateway || (customApi && input.apis.length > 0);
  if (!relevant) return { relevant: false, mismatches: [] };
  const mismatches: Omit<Mismatch, "workflow" | "action" | "path">[] = [];
  if (near) {
    const want = accepted(near).find((v) => norm(v) === norm(aud))!;
    const slash =
      aud.endsWith("/") && !want.endsWith("/")
        ? " (a trailing slash the registration does not have)"
        : !aud.endsWith("/") && want.endsWith("/")
          ? " (the registration has a trailing slash the action lacks)"
          : " (letter case differs)";
    mismatches.push({
      kind: "audience",
      message: `audience "${aud}" does not exactly match "${want}"${slash}; Entra ID compares it exactly: set audience to "${suggested(near)}" for ${describeApi(near)}`,
    });
  } else if (!exact) {
    const expected = input.apis.map((api) => `"${suggested(api)}" for ${describeApi(api)}`).join(" or ");
    mismatches.push({
      kind: "audience",
      message: `audience "${aud}" is not an API this binding grants app roles on; set it to ${expected}`,
    });
  }
  const bound = input.identity;
  if (bound.type === "SystemAssigned") {
    if (identity !== undefined && !/^systemassigned$/i.test(identity))
      mismatches.push({
        kind: "identity",
        message: `uses the user-assigned identity ${identity}, but the binding grants the roles to the system-assigned identity; remove "identity" from the action's authentication`,
      });
  } else if (identity === undefined || /^systemassigned$/i.test(identity)) {
    mismatches.push({
      kind: "identity",
      message: `uses the system-assigned identity, but the binding grants the roles to the user-assigned identity ${bound.id}; set "identity" to that resource ID`,
    });
  } else if (identity.toLowerCase() !== bound.id.toLowerCase()) {
    mismatches.push({
      kind: "identity",
      message: `uses the user-assigned identity ${identity}, but the binding grants the roles to ${bound.id}`,
    });
  }
  const gateways = input.gatewayHosts ?? [];
  if (gateways.length > 0 && host !== undefined && !gateway && (exact || near))
    mismatches.push({
      kind: "host",
      message: `calls ${host}, not the API Management gateway (${gateways.join(", ")}) whose validate-jwt rule references this binding`,
    });
  return { relevant: true, mismatches };
}

export function checkWorkflows(input: CheckInput): CheckResult {
  const ignored = new Set((input.ignored ?? []).map((k) => k.trim().toLowerCase()).filter(Boolean));
  const result: CheckResult = { checked: 0, mismatches: [], notEvaluated: [], ignored: 0 };
  for (const wf of input.workflows) {
    for (const a of msiActions(wf.definition)) {
      const r = checkAction(a, wf, input);
      if (!r.relevant) continue;
      if (r.notEvaluated) {
        result.notEvaluated.push(r.notEvaluated);
        continue;
      }
      result.checked++;
      const silenced =
        ignored.has(`${wf.workflow}/${a.name}`.toLowerCase()) ||
        ignored.has(`${wf.workflow}/${a.path}`.toLowerCase());
      for (const m of r.mismatches) {
        if (silenced) result.ignored++;
        else result.mismatches.push({ workflow: wf.workflow, action: a.name, path: a.path, ...m });
      }
    }
  }
  return result;
}

/** One line a person can act on: which workflow, which action (and where), what exactly is wrong. */
export function mismatchMessage(m: Mismatch): string {
  const where = m.path === m.action ? `action "${m.action}"` : `action "${m.action}" (${m.path})`;
  return `workflow "${m.workflow}", ${where}: ${m.message}`;
}

/** A Consumption connection (`$connections`) or a Standard `managedApiConnections` entry using the managed identity. */
export interface MsiConnection {
  /** The name the workflow uses for it. */
  name: string;
  connectionId: string;
  /** The user-assigned identity it names; undefined: the system-assigned one. */
  identity?: string;
}

/**
 * Consumption: `parameters.$connections.value.<name>.connectionProperties.authentication` (Learn
 * authenticate-with-managed-identity.md, "Logic app resource definition and connections that use a managed identity").
 */
export function consumptionMsiConnections(parameters: unknown): MsiConnection[] {
  const conns =
    isObject(parameters) && isObject(parameters.$connections) ? parameters.$connections.value : undefined;
  if (!isObject(conns)) return [];
  const out: MsiConnection[] = [];
  for (const [name, c] of Object.entries(conns)) {
    if (!isObject(c)) continue;
    const auth =
      isObject(c.connectionProperties) && isObject(c.connectionProperties.authentication)
        ? c.connectionProperties.authentication
        : undefined;
    const id = str(c.connectionId);
    if (!auth || !id || str(auth.type) !== "ManagedServiceIdentity") continue;
    out.push({ name, connectionId: id, ...(str(auth.identity) ? { identity: str(auth.identity)! } : {}) });
  }
  return out;
}

/**
 * Standard: `connections.json` → `managedApiConnections.<name>` whose `authentication.type` is
 * `ManagedServiceIdentity` (same article, Standard tab; "If no identity property exists in this authentication
 * section, the logic app implicitly uses the system-assigned identity").
 */
export function standardMsiConnections(connectionsJson: unknown): MsiConnection[] {
  const conns = isObject(connectionsJson) ? connectionsJson.managedApiConnections : undefined;
  if (!isObject(conns)) return [];
  const out: MsiConnection[] = [];
  for (const [name, c] of Object.entries(conns)) {
    if (!isObject(c)) continue;
    const auth = isObject(c.authentication) ? c.authentication : undefined;
    const id = isObject(c.connection) ? str(c.connection.id) : undefined;
    if (!auth || !id || str(auth.type) !== "ManagedServiceIdentity") continue;
    out.push({ name, connectionId: id, ...(str(auth.identity) ? { identity: str(auth.identity)! } : {}) });
  }
  return out;
}
