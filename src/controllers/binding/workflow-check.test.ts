import { describe, expect, it } from "vitest";
import {
  checkWorkflows,
  consumptionMsiConnections,
  mismatchMessage,
  msiActions,
  standardMsiConnections,
  type BoundApi,
  type BoundIdentity,
  type CheckInput,
} from "./workflow-check.ts";

const UAMI =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-id";
const OTHER_UAMI =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other";
const PAYMENTS: BoundApi = {
  api: "api://payments-api",
  appId: "11111111-2222-3333-4444-555555555555",
  identifierUris: ["api://payments-api"],
  tokenVersion: null,
};
const PAYMENTS_V2: BoundApi = { ...PAYMENTS, tokenVersion: 2 };
const SLASHED: BoundApi = {
  api: "https://orders.contoso.com/",
  identifierUris: ["https://orders.contoso.com/"],
};

const http = (auth: Record<string, unknown>, uri = "https://payments.contoso.com/pay") => ({
  type: "Http",
  inputs: { method: "POST", uri, authentication: { type: "ManagedServiceIdentity", ...auth } },
  runAfter: {},
});
const def = (actions: Record<string, unknown>, parameters: Record<string, unknown> = {}) => ({
  $schema:
    "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
  contentVersion: "1.0.0.0",
  parameters,
  triggers: {},
  actions,
  outputs: {},
});

const SYSTEM: BoundIdentity = { type: "SystemAssigned" };
const USER: BoundIdentity = { type: "UserAssigned", id: UAMI };

interface Case {
  name: string;
  actions: Record<string, unknown>;
  identity?: BoundIdentity;
  apis?: BoundApi[];
  gatewayHosts?: string[];
  ignored?: string[];
  parameters?: Record<string, unknown>;
  runtimeParameters?: Record<string, unknown>;
  /** `kind:action` of each expected mismatch, in order. */
  expect: string[];
  /** Substrings the first mismatch's message must hold. */
  says?: string[];
  checked?: number;
  notEvaluated?: number;
}

const cases: Case[] = [
  {
    name: "exact identifier URI, system identity",
    actions: { Call: http({ audience: "api://payments-api" }) },
    expect: [],
    checked: 1,
  },
  {
    name: "trailing slash the registration does not have",
    actions: { Call: http({ audience: "api://payments-api/" }) },
    expect: ["audience:Call"],
    says: [
      '"api://payments-api/"',
      "trailing slash the registration does not have",
      'set audience to "api://payments-api"',
    ],
  },
  {
    name: "registration has the slash, the action lacks it",
    apis: [SLASHED],
    actions: { Call: http({ audience: "https://orders.contoso.com" }) },
    expect: ["audience:Call"],
    says: ["the registration has a trailing slash the action lacks"],
  },
  {
    name: "case differs",
    actions: { Call: http({ audience: "API://Payments-Api" }) },
    expect: ["audience:Call"],
    says: ["letter case differs"],
  },
  {
    name: "client id accepted for a v1 API",
    actions: { Call: http({ audience: PAYMENTS.appId }) },
    expect: [],
  },
  {
    name: "v2 API: the suggestion is the client id",
    apis: [PAYMENTS_V2],
    actions: { Call: http({ audience: "api://payments-api/" }) },
    expect: ["audience:Call"],
    says: [`set audience to "${PAYMENTS.appId}"`, "v2 tokens, so aud is its client ID"],
  },
  {
    name: "another api:// URI than the bound APIs",
    actions: { Call: http({ audience: "api://refunds-api" }) },
    expect: ["audience:Call"],
    says: ["not an API this binding grants app roles on", '"api://payments-api"'],
  },
  {
    name: "ARM audience is aimed elsewhere: not this binding's business",
    actions: { Arm: http({ audience: "https://management.azure.com/", identity: OTHER_UAMI }) },
    expect: [],
    checked: 0,
  },
  { name: "no audience defaults to ARM: ignored", actions: { Arm: http({}) }, expect: [], checked: 0 },
  {
    name: "binding system-assigned, action user-assigned",
    actions: { Call: http({ audience: "api://payments-api", identity: UAMI }) },
    expect: ["identity:Call"],
    says: ["uses the user-assigned identity", 'remove "identity"'],
  },
  {
    name: "binding user-assigned, action system-assigned (no identity)",
    identity: USER,
    actions: { Call: http({ audience: "api://payments-api" }) },
    expect: ["identity:Call"],
    says: ["uses the system-assigned identity", UAMI],
  },
  {
    name: 'binding user-assigned, action says "SystemAssigned" (older docs)',
    identity: USER,
    actions: { Call: http({ audience: "api://payments-api", identity: "SystemAssigned" }) },
    expect: ["identity:Call"],
  },
  {
    name: "binding system-assigned, action says SystemAssigned",
    actions: { Call: http({ audience: "api://payments-api", identity: "SystemAssigned" }) },
    expect: [],
  },
  {
    name: "user-assigned id compared case-insensitively (lower-case provider as Learn prints it)",
    identity: USER,
    actions: { Call: http({ audience: "api://payments-api", identity: UAMI.toLowerCase() }) },
    expect: [],
  },
  {
    name: "another user-assigned identity",
    identity: USER,
    actions: { Call: http({ audience: "api://payments-api", identity: OTHER_UAMI }) },
    expect: ["identity:Call"],
    says: [OTHER_UAMI, UAMI],
  },
  {
    name: "both audience and identity wrong: two findings",
    identity: USER,
    actions: { Call: http({ audience: "api://payments-api/" }) },
    expect: ["audience:Call", "identity:Call"],
  },
  {
    name: "nested in a scope, a condition's else branch, a foreach, an until and a switch",
    actions: {
      Scope: {
        type: "Scope",
        actions: {
          If: {
            type: "If",
            expression: {},
            actions: { A: http({ audience: "api://payments-api" }) },
            else: { actions: { B: http({ audience: "api://payments-api/" }) } },
          },
        },
      },
      Each: { type: "Foreach", foreach: "@x", actions: { C: http({ audience: "api://payments-api/" }) } },
      Loop: { type: "Until", expression: "@true", actions: { D: http({ audience: "api://payments-api/" }) } },
      Switch: {
        type: "Switch",
        expression: "@x",
        cases: { One: { case: 1, actions: { E: http({ audience: "api://payments-api/" }) } } },
        default: { actions: { F: http({ audience: "api://payments-api/" }) } },
      },
    },
    expect: ["audience:B", "audience:C", "audience:D", "audience:E", "audience:F"],
    checked: 6,
  },
  {
    name: "APIM and Function actions are checked; other types are not",
    actions: {
      Apim: {
        type: "ApiManagement",
        inputs: { authentication: { type: "ManagedServiceIdentity", audience: "api://payments-api/" } },
      },
      Fn: {
        type: "Function",
        inputs: {
          function: { id: "/x" },
          authentication: { type: "ManagedServiceIdentity", audience: "api://payments-api/" },
        },
      },
      Other: {
        type: "ApiConnection",
        inputs: { authentication: { type: "ManagedServiceIdentity", audience: "api://payments-api/" } },
      },
    },
    expect: ["audience:Apim", "audience:Fn"],
  },
  {
    name: 'the designer\'s "Managed identity" spelling',
    actions: {
      Call: {
        type: "Http",
        inputs: { authentication: { type: "Managed Identity", audience: "api://payments-api/" } },
      },
    },
    expect: ["audience:Call"],
  },
  {
    name: "other authentication types are not checked",
    actions: { Call: { type: "Http", inputs: { authentication: { type: "Basic", username: "u" } } } },
    expect: [],
    checked: 0,
  },
  {
    name: "@parameters resolved from the definition's default",
    parameters: { aud: { type: "String", defaultValue: "api://payments-api/" } },
    actions: { Call: http({ audience: "@parameters('aud')" }) },
    expect: ["audience:Call"],
  },
  {
    name: "@parameters: the run-time value wins over the default",
    parameters: { aud: { type: "String", defaultValue: "api://payments-api/" } },
    runtimeParameters: { aud: { value: "api://payments-api" } },
    actions: { Call: http({ audience: "@{parameters('aud')}" }) },
    expect: [],
  },
  {
    name: "other expressions are not evaluated, never guessed",
    actions: { Call: http({ audience: "@appsetting('aud')" }) },
    expect: [],
    checked: 0,
    notEvaluated: 1,
  },
  {
    name: "silenced by annotation (workflow/action)",
    ignored: ["orders/Call"],
    actions: { Call: http({ audience: "api://payments-api/" }) },
    expect: [],
  },
  {
    name: "silenced by nested path",
    ignored: [" ORDERS/Scope/Call "],
    actions: { Scope: { type: "Scope", actions: { Call: http({ audience: "api://payments-api/" }) } } },
    expect: [],
  },
  {
    name: "bypasses the APIM gateway of a policy that references the binding",
    gatewayHosts: ["contoso.azure-api.net"],
    actions: { Call: http({ audience: "api://payments-api" }, "https://payments-backend.contoso.com/pay") },
    expect: ["host:Call"],
    says: ["payments-backend.contoso.com", "contoso.azure-api.net"],
  },
  {
    name: "through the gateway: fine",
    gatewayHosts: ["contoso.azure-api.net"],
    actions: { Call: http({ audience: "api://payments-api" }, "https://contoso.azure-api.net/payments/pay") },
    expect: [],
  },
  {
    name: "a call to the gateway with an unrelated audience is ours to flag",
    gatewayHosts: ["contoso.azure-api.net"],
    actions: {
      Call: http({ audience: "https://management.azure.com/" }, "https://contoso.azure-api.net/payments"),
    },
    expect: ["audience:Call"],
  },
  {
    name: "several APIs: any exact one is fine",
    apis: [PAYMENTS, SLASHED],
    actions: { Call: http({ audience: "https://orders.contoso.com/" }) },
    expect: [],
  },
];

describe("checkWorkflows", () => {
  it.each(cases)("$name", (c) => {
    const input: CheckInput = {
      workflows: [
        {
          workflow: "orders",
          definition: def(c.actions, c.parameters),
          ...(c.runtimeParameters ? { parameters: c.runtimeParameters } : {}),
        },
      ],
      identity: c.identity ?? SYSTEM,
      apis: c.apis ?? [PAYMENTS],
      ...(c.gatewayHosts ? { gatewayHosts: c.gatewayHosts } : {}),
      ...(c.ignored ? { ignored: c.ignored } : {}),
    };
    const r = checkWorkflows(input);
    expect(r.mismatches.map((m) => `${m.kind}:${m.action}`)).toEqual(c.expect);
    for (const s of c.says ?? []) expect(mismatchMessage(r.mismatches[0]!)).toContain(s);
    if (c.checked !== undefined) expect(r.checked).toBe(c.checked);
    expect(r.notEvaluated.length).toBe(c.notEvaluated ?? 0);
    if (c.ignored) expect(r.ignored).toBeGreaterThan(0);
  });

  it("names the workflow, the action and its nesting in the message", () => {
    const r = checkWorkflows({
      workflows: [
        {
          workflow: "orders",
          definition: def({
            S: { type: "Scope", actions: { Call: http({ audience: "api://payments-api/" }) } },
          }),
        },
      ],
      identity: SYSTEM,
      apis: [PAYMENTS],
    });
    expect(mismatchMessage(r.mismatches[0]!)).toMatch(
      /^workflow "orders", action "Call" \(S\/Call\): audience "api:\/\/payments-api\/"/,
    );
  });

  it("finds nothing in a definition without actions or a malformed one", () => {
    expect(msiActions(undefined)).toEqual([]);
    expect(msiActions({ actions: [] })).toEqual([]);
    expect(msiActions({ actions: { X: "not an object" } })).toEqual([]);
  });
});

describe("connections using the managed identity", () => {
  it("Consumption $connections: system and user-assigned, others skipped", () => {
    const conns = consumptionMsiConnections({
      $connections: {
        value: {
          servicebus: {
            connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/servicebus",
            connectionName: "servicebus",
            connectionProperties: { authentication: { type: "ManagedServiceIdentity" } },
            id: "/subscriptions/s/providers/Microsoft.Web/locations/westeurope/managedApis/servicebus",
          },
          blob: {
            connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/blob",
            connectionProperties: {
              authentication: { type: "ManagedServiceIdentity", identity: UAMI.toLowerCase() },
            },
          },
          office: {
            connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/office",
          },
        },
      },
    });
    expect(conns).toEqual([
      {
        name: "servicebus",
        connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/servicebus",
      },
      {
        name: "blob",
        connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/blob",
        identity: UAMI.toLowerCase(),
      },
    ]);
    expect(consumptionMsiConnections({})).toEqual([]);
  });

  it("Standard connections.json: ManagedServiceIdentity entries only (GetWorkflow's Raw/Key entry is not one)", () => {
    const conns = standardMsiConnections({
      managedApiConnections: {
        office365: {
          api: { id: "/subscriptions/s/providers/Microsoft.Web/locations/brazilsouth/managedApis/office365" },
          authentication: { type: "Raw", parameter: "@appsetting('office365-connectionKey')", scheme: "Key" },
          connection: {
            id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/office365-1",
          },
        },
        sql: {
          api: { id: "/subscriptions/s/providers/Microsoft.Web/locations/westeurope/managedApis/sql" },
          authentication: { type: "ManagedServiceIdentity" },
          connection: { id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/sql" },
        },
      },
    });
    expect(conns).toEqual([
      {
        name: "sql",
        connectionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/connections/sql",
      },
    ]);
  });
});
