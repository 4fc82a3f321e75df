/** RoleDefinitionPort and RoleAssignmentPort over @azure/arm-authorization (api-version 2022-04-01). */
import type {
  AuthorizationManagementClient,
  RoleAssignment as SdkRoleAssignment,
  RoleDefinition as SdkRoleDefinition,
} from "@azure/arm-authorization";
import { AzureError } from "../errors.ts";
import type {
  NewRoleAssignment,
  RoleAssignment,
  RoleAssignmentPort,
  RoleDefinition,
  RoleDefinitionPort,
  CallOptions,
} from "../ports.ts";
import { absentOn404, invoke, subscriptionOf, withoutLeadingSlash } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The authorization client needs some subscription; scope-based operations never use it. */
const NO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
export const DEFAULT_ROLE_DEFINITION_TTL_MS = 10 * 60_000;

function clientFor(
  clients: PerSubscription<AuthorizationManagementClient>,
  scope: string,
): AuthorizationManagementClient {
  return clients.get(subscriptionOf(scope) ?? NO_SUBSCRIPTION);
}

/** OData string literal: a single quote is written twice. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function normaliseScope(scope: string): string {
  return `/${withoutLeadingSlash(scope)}`.replace(/\/+$/, "");
}

/** True when `outer` is `inner` or one of its ancestors (ARM scopes are case-insensitive paths). */
export function isAtOrAbove(outer: string, inner: string): boolean {
  const o = normaliseScope(outer).toLowerCase();
  const i = normaliseScope(inner).toLowerCase();
  return o === "" || o === i || i.startsWith(`${o}/`);
}

function toDefinition(d: SdkRoleDefinition): RoleDefinition | undefined {
  if (!d.id || !d.name) return undefined;
  const strings = (xs: string[] | undefined) => (xs ?? []).map(String);
  return {
    id: d.id,
    name: d.name,
    roleName: d.roleName ?? d.name,
    permissions: (d.permissions ?? []).map((p) => ({
      actions: strings(p.actions),
      notActions: strings(p.notActions),
      dataActions: strings(p.dataActions),
      notDataActions: strings(p.notDataActions),
    })),
  };
}

interface CacheEntry {
  expires: number;
  value: Promise<RoleDefinition | undefined>;
}

export class RoleDefinitionAdapter implements RoleDefinitionPort {
  readonly #clients: PerSubscription<AuthorizationManagementClient>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(
    clients: PerSubscription<AuthorizationManagementClient>,
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#clients = clients;
    this.#ttlMs = options.ttlMs ?? DEFAULT_ROLE_DEFINITION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  resolve(scope: string, role: string, call: CallOptions = {}): Promise<RoleDefinition | undefined> {
    // Definitions are subscription-wide (built-in ones tenant-wide), so one lookup serves every scope of a
    // subscription; the in-flight promise is cached too, so concurrent reconciles share one call.
    const key = `${(subscriptionOf(scope) ?? "").toLowerCase()}|${role.toLowerCase()}`;
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit && hit.expires > now) return hit.value;
    // The lookup is shared by concurrent passes; one aborted pass fails it for all, which only happens at shutdown,
    // and a failed lookup is not cached.
    const value = this.#lookup(scope, role, call);
    this.#cache.set(key, { expires: now + this.#ttlMs, value });
    // Failures and misses are not remembered: a custom role may be created a minute from now.
    value.then(
      (d) => {
        if (!d) this.#cache.delete(key);
      },
      () => this.#cache.delete(key),
    );
    return value;
  }

  async #lookup(scope: string, role: string, call: CallOptions): Promise<RoleDefinition | undefined> {
    const abortSignal = call.signal;
    const client = clientFor(this.#clients, scope);
    if (role.startsWith("/") && /\/providers\/Microsoft\.Authorization\/roleDefinitions\//i.test(role)) {
      const d = await absentOn404(
        invoke("arm-authorization", "roleDefinitions.getById", () =>
          client.roleDefinitions.getById(withoutLeadingSlash(role), { abortSignal }),
        ),
      );
      return d && toDefinition(d);
    }
    if (GUID.test(role)) {
      const d = await absentOn404(
        invoke("arm-authorization", "roleDefinitions.get", () =>
          client.roleDefinitions.get(withoutLeadingSlash(scope), role, { abortSignal }),
        ),
      );
      return d && toDefinition(d);
    }
    return invoke("arm-authorization", "roleDefinitions.list", async () => {
      for await (const d of client.roleDefinitions.list(withoutLeadingSlash(scope), {
        filter: `roleName eq ${odataString(role)}`,
        abortSignal,
      })) {
        // The service matches case-insensitively; prefer an exact match if several come back.
        if (d.roleName === role) return toDefinition(d);
        if (d.roleName?.toLowerCase() === role.toLowerCase()) return toDefinition(d);
      }
      return undefined;
    });
  }
}

function toAssignment(a: SdkRoleAssignment): RoleAssignment {
  return {
    id: a.id ?? "",
    name: a.name ?? "",
    scope: a.scope ?? "",
    roleDefinitionId: a.roleDefinitionId ?? "",
    principalId: a.principalId ?? "",
    description: a.description ?? undefined,
  };
}

export class RoleAssignmentAdapter implements RoleAssignmentPort {
  readonly #clients: PerSubscription<AuthorizationManagementClient>;

  constructor(clients: PerSubscription<AuthorizationManagementClient>) {
    this.#clients = clients;
  }

  /**
   * `principalId eq` is the only filter that selects by principal; per the 2022-04-01 contract it returns the
   * principal's assignments at, above AND below the scope (atScope() would add everyone's, and assignedTo() also
   * follows group membership). One call, then keep those at or above the scope.
   */
  listForPrincipal(scope: string, principalId: string, call: CallOptions = {}): Promise<RoleAssignment[]> {
    const client = clientFor(this.#clients, scope);
    return invoke("arm-authorization", "roleAssignments.listForScope", async () => {
      const out: RoleAssignment[] = [];
      for await (const a of client.roleAssignments.listForScope(withoutLeadingSlash(scope), {
        filter: `principalId eq ${odataString(principalId)}`,
        abortSignal: call.signal,
      })) {
        const r = toAssignment(a);
        if (r.principalId.toLowerCase() === principalId.toLowerCase() && isAtOrAbove(r.scope, scope))
          out.push(r);
      }
      return out;
    });
  }

  /** atScope() returns assignments at or above the scope; the port wants exactly this scope. */
  listAtScope(scope: string, call: CallOptions = {}): Promise<RoleAssignment[]> {
    const client = clientFor(this.#clients, scope);
    const want = normaliseScope(scope).toLowerCase();
    return invoke("arm-authorization", "roleAssignments.listForScope", async () => {
      const out: RoleAssignment[] = [];
      for await (const a of client.roleAssignments.listForScope(withoutLeadingSlash(scope), {
        filter: "atScope()",
        abortSignal: call.signal,
      })) {
        const r = toAssignment(a);
        if (normaliseScope(r.scope).toLowerCase() === want) out.push(r);
      }
      return out;
    });
  }

  /** RoleAssignments_ListForSubscription without a filter: at, above and below the subscription, paged. */
  listInSubscription(subscriptionId: string): Promise<RoleAssignment[]> {
    const client = this.#clients.get(subscriptionId);
    return invoke("arm-authorization", "roleAssignments.listForSubscription", async () => {
      const out: RoleAssignment[] = [];
      for await (const a of client.roleAssignments.listForSubscription()) out.push(toAssignment(a));
      return out;
    });
  }

  async create(assignment: NewRoleAssignment, call: CallOptions = {}): Promise<RoleAssignment> {
    if (!GUID.test(assignment.name)) {
      throw new AzureError({
        kind: "Invalid",
        code: "InvalidRoleAssignmentName",
        message: `arm-authorization roleAssignments.create: name '${assignment.name}' is not a GUID`,
        service: "arm-authorization",
        operation: "roleAssignments.create",
      });
    }
    const client = clientFor(this.#clients, assignment.scope);
    const created = await invoke("arm-authorization", "roleAssignments.create", () =>
      client.roleAssignments.create(
        withoutLeadingSlash(assignment.scope),
        assignment.name,
        {
          roleDefinitionId: assignment.roleDefinitionId,
          principalId: assignment.principalId,
          // Without it ARM looks the principal up in the directory and fails with PrincipalNotFound while a fresh
          // managed identity is still replicating.
          principalType: "ServicePrincipal",
          description: assignment.description,
        },
        { abortSignal: call.signal },
      ),
    );
    return toAssignment(created);
  }

  async delete(id: string, call: CallOptions = {}): Promise<void> {
    const client = clientFor(this.#clients, id);
    // 200 with the deleted body or 204 when already gone; a 404 (e.g. its scope is gone) means the same.
    await absentOn404(
      invoke("arm-authorization", "roleAssignments.deleteById", () =>
        client.roleAssignments.deleteById(withoutLeadingSlash(id), { abortSignal: call.signal }),
      ),
    );
  }
}
