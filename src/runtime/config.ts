/**
 * Runtime configuration from flags and LAIO_* environment variables (flags win), validated with messages that name
 * the option, the value and what is expected. `helpText()` documents every option from the same table.
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { LOG_LEVELS, type LogLevel } from "./logger.ts";

export interface RuntimeConfig {
  /** Namespaces to watch; empty means all namespaces. */
  namespaces: string[];
  concurrency: number;
  /** Look at every object again at least this often (ms, jittered); 0 turns it off. */
  resyncIntervalMs: number;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  /** Where the ownership records and Logic App claims live: a namespace only the operator may write. */
  recordsNamespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Identity written into the Lease. */
  identity: string;
  /** host:port, or "" to turn the server off. */
  metricsAddr: string;
  healthAddr: string;
  logLevel: LogLevel;
  shutdownTimeoutMs: number;
  /** Path to a kubeconfig; empty means in-cluster or $KUBECONFIG/default loading. */
  kubeconfig: string;
  /** enforce: AzureAccessPolicy decides what each namespace may do; permissive: everything is allowed. */
  tenancy: TenancyMode;
  /** Observe the outside world through shared, periodically refreshed lists instead of per-object reads. */
  inventory: boolean;
  /** How often the inventory lists everything again (ms). */
  inventoryIntervalMs: number;
  /** With the inventory on, the per-object resync: a rare safety net (ms); 0 turns it off. */
  inventoryResyncIntervalMs: number;
}

export const TENANCY_MODES = ["enforce", "permissive"] as const;
export type TenancyMode = (typeof TENANCY_MODES)[number];

type Kind = "string" | "int" | "duration" | "bool" | "list" | "addr" | "level" | "tenancy";

interface OptionSpec {
  flag: string;
  key: keyof RuntimeConfig;
  kind: Kind;
  default: string;
  help: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const OPTIONS: readonly OptionSpec[] = [
  {
    flag: "namespaces",
    key: "namespaces",
    kind: "list",
    default: "all",
    help: 'Namespaces to watch: a comma-separated list, or "all" for every namespace.',
  },
  {
    flag: "concurrency",
    key: "concurrency",
    kind: "int",
    default: "2",
    help: "Reconciles run at once per kind (1-64). One object is never reconciled by two workers at once.",
  },
  {
    flag: "resync-interval",
    key: "resyncIntervalMs",
    kind: "duration",
    default: "10m",
    help: "Look at every object again at least this often (±10% jitter), to notice drift outside Kubernetes. 0 turns it off.",
  },
  {
    flag: "leader-elect",
    key: "leaderElect",
    kind: "bool",
    default: "true",
    help: "Elect a leader through a coordination.k8s.io Lease so only one replica reconciles.",
  },
  {
    flag: "lease-name",
    key: "leaseName",
    kind: "string",
    default: "logicapp-identity-operator",
    help: "Name of the leader-election Lease.",
  },
  {
    flag: "lease-namespace",
    key: "leaseNamespace",
    kind: "string",
    default: "",
    help: "Namespace of the Lease. Default: $POD_NAMESPACE, else the service account's namespace, else default.",
  },
  {
    flag: "records-namespace",
    key: "recordsNamespace",
    kind: "string",
    default: "",
    help: "Namespace of the ownership records and Logic App claims (ConfigMaps only the operator may write). Default: the Lease's namespace, i.e. the operator's own.",
  },
  {
    flag: "lease-duration",
    key: "leaseDurationMs",
    kind: "duration",
    default: "15s",
    help: "How long a standby waits after the last renewal before taking the Lease over.",
  },
  {
    flag: "renew-deadline",
    key: "renewDeadlineMs",
    kind: "duration",
    default: "10s",
    help: "How long the leader keeps trying to renew before it stops leading. Must be less than --lease-duration.",
  },
  {
    flag: "retry-period",
    key: "retryPeriodMs",
    kind: "duration",
    default: "2s",
    help: "Interval between attempts to acquire or renew the Lease. Must be less than --renew-deadline.",
  },
  {
    flag: "identity",
    key: "identity",
    kind: "string",
    default: "",
    help: "Holder identity written into the Lease. Default: hostname plus a random suffix.",
  },
  {
    flag: "metrics-addr",
    key: "metricsAddr",
    kind: "addr",
    default: ":8080",
    help: 'Address (host:port or :port) for Prometheus /metrics. "0" turns it off.',
  },
  {
    flag: "health-addr",
    key: "healthAddr",
    kind: "addr",
    default: ":8081",
    help: 'Address for /healthz and /readyz. "0" turns it off. May equal --metrics-addr to share one port.',
  },
  {
    flag: "log-level",
    key: "logLevel",
    kind: "level",
    default: "info",
    help: `Log level: ${LOG_LEVELS.join(", ")}.`,
  },
  {
    flag: "shutdown-timeout",
    key: "shutdownTimeoutMs",
    kind: "duration",
    default: "30s",
    help: "On SIGTERM, how long in-flight reconciles may take to finish before they are aborted.",
  },
  {
    flag: "kubeconfig",
    key: "kubeconfig",
    kind: "string",
    default: "",
    help: "Path to a kubeconfig. Default: in-cluster service account, else $KUBECONFIG or ~/.kube/config.",
  },
  {
    flag: "tenancy",
    key: "tenancy",
    kind: "tenancy",
    default: "enforce",
    help:
      "enforce: an object may only make the operator do what an AzureAccessPolicy selecting its namespace allows " +
      "(none selects it: nothing). permissive: allow everything, for single-team trials (logged as a warning, " +
      "exported as laio_tenancy_mode).",
  },
  {
    flag: "inventory",
    key: "inventory",
    kind: "bool",
    default: "true",
    help: "Observe Azure through one shared inventory per subscription (paged lists refreshed on an interval; changes enqueue the objects that depend on them) instead of per-object reads.",
  },
  {
    flag: "inventory-interval",
    key: "inventoryIntervalMs",
    kind: "duration",
    default: "45s",
    help: "How often the inventory lists Logic Apps, role assignments and app-role assignments again; drift is healed within about this long.",
  },
  {
    flag: "inventory-resync-interval",
    key: "inventoryResyncIntervalMs",
    kind: "duration",
    default: "6h",
    help: "With --inventory, look at every binding again at least this often (a safety net; --resync-interval applies without the inventory). 0 turns it off.",
  },
];

export function envName(flag: string): string {
  return `LAIO_${flag.toUpperCase().replace(/-/g, "_")}`;
}

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}\nRun with --help for the options.`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Go-style durations: 500ms, 30s, 1m30s, 2h. A bare 0 is allowed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === "0") return 0;
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(t)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of t.matchAll(DURATION_PART)) total += Number(m[1]) * unit[m[2]!]!;
  return Math.round(total);
}

export interface ParsedArgs {
  config: RuntimeConfig;
  help: boolean;
}

/** Parses argv (without node and script) and env. Throws ConfigError listing every problem found. */
export function parseConfig(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): ParsedArgs {
  const problems: string[] = [];
  const raw = new Map<string, { value: string; source: string }>();
  const byFlag = new Map(OPTIONS.map((o) => [o.flag, o]));
  let help = false;

  for (const o of OPTIONS) {
    const v = env[envName(o.flag)];
    if (v !== undefined && v !== "") raw.set(o.flag, { value: v, source: envName(o.flag) });
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      problems.push(`unexpected argument "${arg}" (options start with --)`);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byFlag.get(name);
    if (!spec) {
      problems.push(`unknown option --${name}`);
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.kind === "bool") value = "true";
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) value = argv[++i]!;
    else {
      problems.push(`--${name} needs a value`);
      continue;
    }
    raw.set(name, { value, source: `--${name}` });
  }

  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const given = raw.get(o.flag);
    const value = given?.value ?? o.default;
    const source = given?.source ?? `default of --${o.flag}`;
    const bad = (expected: string) => problems.push(`${source}: "${value}" is not ${expected}`);
    switch (o.kind) {
      case "string":
        out[o.key] = value;
        break;
      case "int": {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || n > 64) bad("an integer from 1 to 64");
        out[o.key] = n;
        break;
      }
      case "duration": {
        const d = parseDuration(value);
        if (d === undefined) bad("a duration such as 500ms, 30s, 5m or 1h");
        out[o.key] = d ?? 0;
        break;
      }
      case "bool":
        if (!["true", "false", "1", "0"].includes(value)) bad("true or false");
        out[o.key] = value === "true" || value === "1";
        break;
      case "list": {
        const items = value
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        if (items.length === 1 && items[0] === "all") out[o.key] = [];
        else {
          for (const ns of items) {
            if (ns === "all") problems.push(`${source}: "all" cannot be combined with namespace names`);
            else if (!DNS_LABEL.test(ns) || ns.length > 63)
              bad(`a list of namespace names ("${ns}" is not one)`);
          }
          if (items.length === 0) bad('a namespace list or "all"');
          out[o.key] = [...new Set(items)];
        }
        break;
      }
      case "addr":
        if (value === "0" || value === "") out[o.key] = "";
        else {
          const m = /^(.*):(\d{1,5})$/.exec(value);
          if (!m || Number(m[2]) > 65535) bad('an address host:port or :port, or "0"');
          out[o.key] = value;
        }
        break;
      case "tenancy":
        if (!(TENANCY_MODES as readonly string[]).includes(value)) bad(`one of ${TENANCY_MODES.join(", ")}`);
        out[o.key] = value;
        break;
      case "level":
        if (!(LOG_LEVELS as readonly string[]).includes(value)) bad(`one of ${LOG_LEVELS.join(", ")}`);
        out[o.key] = value;
        break;
    }
  }

  const c = out as unknown as RuntimeConfig;
  if (c.leaderElect) {
    if (!DNS_SUBDOMAIN.test(c.leaseName))
      problems.push(`lease name "${c.leaseName}" is not a valid object name`);
    if (c.leaseDurationMs <= c.renewDeadlineMs)
      problems.push(
        `--lease-duration (${c.leaseDurationMs} ms) must be greater than --renew-deadline (${c.renewDeadlineMs} ms)`,
      );
    if (c.renewDeadlineMs <= c.retryPeriodMs)
      problems.push(
        `--renew-deadline (${c.renewDeadlineMs} ms) must be greater than --retry-period (${c.retryPeriodMs} ms)`,
      );
    if (c.retryPeriodMs <= 0) problems.push("--retry-period must be greater than 0");
  }
  if (c.leaseNamespace === "") c.leaseNamespace = env.POD_NAMESPACE || serviceAccountNamespace() || "default";
  else if (!DNS_LABEL.test(c.leaseNamespace))
    problems.push(`lease namespace "${c.leaseNamespace}" is not valid`);
  if (c.recordsNamespace === "") c.recordsNamespace = c.leaseNamespace;
  else if (!DNS_LABEL.test(c.recordsNamespace) || c.recordsNamespace.length > 63)
    problems.push(`--records-namespace: "${c.recordsNamespace}" is not a namespace name`);
  if (c.identity === "") c.identity = `${hostname()}_${Math.random().toString(36).slice(2, 8)}`;
  if (problems.length > 0 && !help) throw new ConfigError(problems);
  return { config: c, help };
}

export function helpText(program = "logicapp-identity-operator run"): string {
  const lines = [
    `Usage: ${program} [options]`,
    "",
    "Options (each also read from the environment variable shown):",
    "",
  ];
  for (const o of OPTIONS) {
    const value = o.kind === "bool" ? "[=true|false]" : ` <${o.kind}>`;
    lines.push(`  --${o.flag}${value}`);
    lines.push(`      ${o.help}`);
    lines.push(`      env ${envName(o.flag)}; default ${o.default === "" ? "(see above)" : o.default}`);
  }
  lines.push("  --help, -h", "      Print this text.");
  return lines.join("\n") + "\n";
}

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function serviceAccountNamespace(): string | undefined {
  return existsSync(SA_NAMESPACE) ? readFileSync(SA_NAMESPACE, "utf8").trim() || undefined : undefined;
}
