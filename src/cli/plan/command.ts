/**
 * `plan -f <files|dirs|-> [--cluster|--no-cluster] [--format text|markdown|json] [--tenancy enforce|permissive]
 * [--records-namespace ns]`, plus the Azure options of `run`. Exit codes as terraform plan -detailed-exitcode.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { createAzurePorts } from "../../azure/clients.ts";
import { createCredential } from "../../azure/credential.ts";
import type { AzurePorts } from "../../azure/ports.ts";
import { KubeClient } from "../../runtime/client.ts";
import { azureHelp, parseAzureOptions } from "../azure-options.ts";
import { progress } from "../progress.ts";
import { clusterView } from "./cluster.ts";
import { exitCodeOf, plan } from "./engine.ts";
import { loadManifests } from "./manifests.ts";
import { renderJson, renderMarkdown, renderText } from "./render.ts";

export const PLAN_USAGE = `Usage: logicapp-identity-operator plan -f <file|dir|-> [-f ...] [options]

Shows what the operator would do in Azure for these manifests, reading Azure only.
  -f, --filename <path>       YAML/JSON file, directory (recursive) or - for stdin (e.g. kustomize build | ...)
  --cluster | --no-cluster    compare with the objects, policies and records in the current kubeconfig's cluster
                              and validate with a server-side dry-run (default --no-cluster)
  --format text|markdown|json (default text; markdown is ready for a pull-request comment)
  --tenancy enforce|permissive  how AzureAccessPolicies apply (default enforce, as the operator)
  --records-namespace <ns>    where the operator keeps its records (default logicapp-identity-operator)
Exit codes: 0 no changes, 2 changes, 1 error or refusal.

Azure options:
${azureHelp()}
`;

export interface CommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: () => string;
  env: Record<string, string | undefined>;
  /** Tests pass the emulator's ports and kubeconfig. */
  ports?: AzurePorts;
  kubeConfig?: KubeConfig;
  now?: () => string;
}

export const processIO = (): CommandIO => ({
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  stdin: () => readFileSync(0, "utf8"),
  env: process.env,
});

/**
 * The Azure options of `run`, and the ports built from them on demand: a credential that cannot be made (no
 * workload identity environment) is a one-line error saying which option to use, not a stack trace, and a command
 * that does not read Azure (evidence without --verify, --help) never builds one.
 */
export function portsFrom(
  argv: readonly string[],
  io: CommandIO,
): { ports: () => AzurePorts; rest: string[]; problems: string[] } {
  const azure = parseAzureOptions(argv, io.env);
  const ports = (): AzurePorts => {
    if (io.ports) return io.ports;
    let credential;
    try {
      credential = createCredential(azure.options.credential);
    } catch (e) {
      throw new Error(
        `no Azure credential (${azure.options.credential}): ${e instanceof Error ? e.message.split("\n")[0] : String(e)} ` +
          "— in CI log in first (azure/login, AzureCLI task) and pass --azure-credential default",
        { cause: e },
      );
    }
    return createAzurePorts({
      credential,
      ...(azure.options.armEndpoint ? { armEndpoint: azure.options.armEndpoint } : {}),
      ...(azure.options.graphEndpoint ? { graphEndpoint: azure.options.graphEndpoint } : {}),
      ...(azure.options.caFile ? { tlsCa: readFileSync(azure.options.caFile, "utf8") } : {}),
    });
  };
  return { ports, rest: azure.rest, problems: io.ports ? [] : azure.problems };
}

export function kubeClientFrom(io: CommandIO): KubeClient {
  if (io.kubeConfig) return new KubeClient(io.kubeConfig);
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new Error(
      `cannot load the kubeconfig (${e instanceof Error ? e.message : String(e)}): set KUBECONFIG to a readable kubeconfig`,
      { cause: e },
    );
  }
  if (!kc.getCurrentCluster())
    throw new Error("no cluster in the kubeconfig: set KUBECONFIG or run without --cluster");
  return new KubeClient(kc);
}

export async function planCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { ports: makePorts, rest, problems } = portsFrom(argv, io);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        filename: { type: "string", short: "f", multiple: true },
        cluster: { type: "boolean" },
        "no-cluster": { type: "boolean" },
        format: { type: "string", default: "text" },
        tenancy: { type: "string", default: "enforce" },
        "records-namespace": { type: "string", default: "logicapp-identity-operator" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    io.stderr(`plan: ${e instanceof Error ? e.message : String(e)}\n\n${PLAN_USAGE}`);
    return 1;
  }
  if (values.help) {
    io.stdout(PLAN_USAGE);
    return 0;
  }
  const errors = [...problems];
  if (!values.filename?.length) errors.push("-f is required: pass a file, a directory or - for stdin");
  if (!["text", "markdown", "json"].includes(values.format))
    errors.push(`--format ${values.format}: use text, markdown or json`);
  if (values.tenancy !== "enforce" && values.tenancy !== "permissive")
    errors.push(`--tenancy ${values.tenancy}: use enforce or permissive`);
  if (errors.length > 0) {
    io.stderr(`plan: ${errors.join("\n  ")}\nRun 'plan --help' for usage.\n`);
    return 1;
  }
  let ports: AzurePorts;
  try {
    ports = makePorts();
  } catch (e) {
    io.stderr(`plan: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const loaded = loadManifests(values.filename ?? [], io.stdin);
  if (loaded.manifests.length === 0 && loaded.errors.length === 0)
    loaded.errors.push(
      `no ${"identity.logicapp.dev"} objects found in ${values.filename!.join(", ")} (${loaded.skipped} other documents skipped)`,
    );
  const useCluster = values.cluster === true && values["no-cluster"] !== true;
  let client: KubeClient | undefined;
  try {
    client = useCluster ? kubeClientFrom(io) : undefined;
  } catch (e) {
    io.stderr(`plan: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const bar = progress("plan");
  try {
    const result = await plan(loaded.manifests, {
      ports,
      ...(client ? { cluster: clusterView(client, values["records-namespace"]) } : {}),
      tenancy: values.tenancy as "enforce" | "permissive",
      now: (io.now ?? (() => new Date().toISOString()))(),
      namespaces: loaded.namespaces,
      progress: bar.update,
    });
    bar.end();
    const code = exitCodeOf(result, loaded.errors);
    io.stdout(
      values.format === "json"
        ? renderJson(result, loaded.errors, code)
        : values.format === "markdown"
          ? renderMarkdown(result, loaded.errors)
          : renderText(result, loaded.errors),
    );
    return code;
  } catch (e) {
    bar.end();
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(
      `plan: ${msg}\n` +
        (client
          ? "Check that the kubeconfig's user may get/list the operator's kinds, Namespaces and ConfigMaps in the records namespace, or run with --no-cluster.\n"
          : ""),
    );
    return 1;
  } finally {
    client?.close();
  }
}
