/**
 * The Azure emulator for a unit test file: started once, reset and seeded with the scenario before each test, and
 * the operator's Azure ports over the real @azure clients pointed at it. Files used to repeat these hooks each
 * (`duplicates` found them in most emulator-backed unit files).
 */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import { createAzurePorts, type AzurePortsOptions } from "../../src/azure/clients.ts";

/** A static bearer token: the emulator checks that one is sent, not what it says. */
export const TEST_CREDENTIAL = {
  getToken: async () => ({ token: "unit-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export type EmulatorConfigPatch = Parameters<RunningEmulator["control"]["setConfig"]>[0];

/** The operator's ports against the emulator (LROs polled every 10 ms unless `settings` says otherwise). */
export function emulatorPorts(
  emu: RunningEmulator,
  settings: Partial<AzurePortsOptions> = {},
): ReturnType<typeof createAzurePorts> {
  return createAzurePorts({
    credential: TEST_CREDENTIAL,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    lroPollIntervalMs: 10,
    ...settings,
  });
}

export interface EmulatorTestEnv {
  emu: RunningEmulator;
  ids: ScenarioIds;
  ports: ReturnType<typeof createAzurePorts>;
}

/**
 * Registers the file's hooks. `config` is applied after each reset, before seeding; `ready` receives the emulator,
 * the seeded scenario and fresh ports before each test (assign them to the file's variables).
 */
export function useEmulator(
  options: { config?: EmulatorConfigPatch; ports?: Partial<AzurePortsOptions> },
  ready: (env: EmulatorTestEnv) => void,
): void {
  let emu: RunningEmulator | undefined;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu?.stop();
  });
  beforeEach(async () => {
    await emu!.control.reset();
    if (options.config) await emu!.control.setConfig(options.config);
    const ids = await emu!.control.seedScenario();
    ready({ emu: emu!, ids, ports: emulatorPorts(emu!, options.ports) });
  });
}

/**
 * A Standard Logic App (`name`) whose connections.json names one V2 managed API connection ("sql", managed
 * identity authentication), as the portal leaves it. The caller seeds its workflows (connections.json reaches the
 * operator in each workflow's `files`).
 */
export async function seedStandardWithV2Connection(
  control: RunningEmulator["control"],
  ids: ScenarioIds,
  name = "orders-standard",
): Promise<{ siteId: string; connectionId: string }> {
  const site = await control.seedLogicApp({
    subscriptionId: ids.subscriptionId,
    resourceGroup: ids.resourceGroup,
    name,
    kind: "Standard",
  });
  const conn = await control.seedConnection({
    subscriptionId: ids.subscriptionId,
    resourceGroup: ids.resourceGroup,
    name: "sql",
    kind: "V2",
    properties: { parameterValueType: "Alternative" },
  });
  await control.seedSiteConnections({
    siteId: site.id,
    connections: {
      managedApiConnections: {
        sql: {
          api: {
            id: `/subscriptions/${ids.subscriptionId}/providers/Microsoft.Web/locations/westeurope/managedApis/sql`,
          },
          authentication: { type: "ManagedServiceIdentity" },
          connection: { id: conn.id },
          connectionRuntimeUrl: "https://example.common.logic-westeurope.azure-apihub.net/apim/sql/0123",
        },
      },
    },
  });
  return { siteId: site.id, connectionId: conn.id };
}
