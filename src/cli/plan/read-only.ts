/**
 * The Azure ports `plan` and `evidence --verify` use: every port method not named here as a read throws before any
 * request is built. An allowlist, not a denylist, so a write method added to a port later is refused by default
 * (plan must never write, whatever a kind's decide asks for). test/unit/plan-read-only.test.ts proves it against
 * the emulator's request log.
 */
import type { AzurePorts } from "../../azure/ports.ts";

/** The read methods per port; anything else is a write. */
export const READ_METHODS: {
  readonly [P in keyof AzurePorts]: readonly (keyof NonNullable<AzurePorts[P]>)[];
} = {
  logicApps: ["observe"],
  userAssignedIdentities: ["observe"],
  roleDefinitions: ["resolve"],
  roleAssignments: ["listForPrincipal", "listAtScope"],
  graph: ["findServicePrincipal", "listAppRoleAssignedTo"],
  applications: ["observeByAppId", "observeByIdentifierUri", "listOwners"],
  apim: ["checkTarget", "getPolicy", "getFragment"],
  connections: ["observe", "listAccessPolicies"],
};

export class ReadOnlyViolation extends Error {
  constructor(port: string, method: string) {
    super(
      `${port}.${method} would write to Azure; plan and evidence are read-only. This is a bug in the command: please report it.`,
    );
    this.name = "ReadOnlyViolation";
  }
}

function readOnly<T extends object>(name: string, port: T, reads: readonly PropertyKey[]): T {
  const allowed = new Set(reads);
  return new Proxy(port, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (!allowed.has(prop)) {
        return () => {
          throw new ReadOnlyViolation(name, String(prop));
        };
      }
      // Adapters are class instances: call with the real port as `this`.
      return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
}

export function readOnlyPorts(ports: AzurePorts): AzurePorts {
  return {
    logicApps: readOnly("logicApps", ports.logicApps, READ_METHODS.logicApps),
    userAssignedIdentities: readOnly(
      "userAssignedIdentities",
      ports.userAssignedIdentities,
      READ_METHODS.userAssignedIdentities,
    ),
    roleDefinitions: readOnly("roleDefinitions", ports.roleDefinitions, READ_METHODS.roleDefinitions),
    roleAssignments: readOnly("roleAssignments", ports.roleAssignments, READ_METHODS.roleAssignments),
    graph: readOnly("graph", ports.graph, READ_METHODS.graph),
    applications: readOnly("applications", ports.applications, READ_METHODS.applications),
    apim: readOnly("apim", ports.apim, READ_METHODS.apim),
    ...(ports.connections
      ? { connections: readOnly("connections", ports.connections, READ_METHODS.connections ?? []) }
      : {}),
  };
}
