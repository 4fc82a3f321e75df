/**
 * logicapp-identity-operator command line.
 *   run        the operator (in a cluster: workload identity, no secrets)
 *   plan       what merging these manifests would do in Azure (read-only; docs/plan-and-evidence.md)
 *   evidence   every binding's access, for reviewers (read-only)
 *   help       this text
 */
import { readFileSync } from "node:fs";
import { createCredential } from "../azure/credential.ts";
import { ConfigError, helpText, parseConfig } from "../runtime/config.ts";
import { azureHelp, parseAzureOptions } from "./azure-options.ts";
import { createOperator } from "./operator.ts";
import { evidenceCommand } from "./evidence/command.ts";
import { planCommand, processIO } from "./plan/command.ts";

const USAGE = `Usage: logicapp-identity-operator <command> [options]

Commands:
  run       Reconcile LogicAppIdentityBinding and ApimJwtPolicy objects against Azure.
  plan      Show what the operator would do in Azure for a set of manifests (read-only). plan --help
  evidence  Export every binding's identity and grants for reviewers (read-only). evidence --help
  help    Show this help.
`;

async function run(argv: string[]): Promise<number> {
  const azure = parseAzureOptions(argv, process.env);
  let parsed;
  try {
    parsed = parseConfig(azure.rest, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error([e.message, ...azure.problems.map((p) => `  ${p}`)].join("\n"));
      return 2;
    }
    throw e;
  }
  if (parsed.help) {
    console.log(`${helpText()}\n\nAzure options:\n${azureHelp()}`);
    return 0;
  }
  if (azure.problems.length > 0) {
    console.error(`invalid configuration:\n${azure.problems.map((p) => `  ${p}`).join("\n")}`);
    return 2;
  }
  const manager = createOperator({
    config: parsed.config,
    azure: {
      credential: createCredential(azure.options.credential),
      ...(azure.options.armEndpoint ? { armEndpoint: azure.options.armEndpoint } : {}),
      ...(azure.options.graphEndpoint ? { graphEndpoint: azure.options.graphEndpoint } : {}),
      ...(azure.options.caFile ? { tlsCa: readFileSync(azure.options.caFile, "utf8") } : {}),
    },
  });
  const stopped = new Promise<void>((resolve) => manager.installSignalHandlers(resolve));
  await manager.start();
  await stopped;
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "plan":
      return planCommand(rest, processIO());
    case "evidence":
      return evidenceCommand(rest, processIO());
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
