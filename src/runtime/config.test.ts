import { describe, expect, it } from "vitest";
import { ConfigError, OPTIONS, envName, helpText, parseConfig, parseDuration } from "./config.ts";

function problems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    parseConfig(argv, env);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
}

describe("parseConfig", () => {
  it("defaults", () => {
    const { config } = parseConfig([], {});
    expect(config).toMatchObject({
      namespaces: [],
      concurrency: 2,
      resyncIntervalMs: 600_000,
      leaderElect: true,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      metricsAddr: ":8080",
      healthAddr: ":8081",
      logLevel: "info",
      shutdownTimeoutMs: 30_000,
      leaseNamespace: "default",
      recordsNamespace: "default",
      tenancy: "enforce",
    });
  });

  it("--tenancy takes enforce or permissive only", () => {
    expect(parseConfig(["--tenancy=permissive"], {}).config.tenancy).toBe("permissive");
    expect(parseConfig([], { LAIO_TENANCY: "permissive" }).config.tenancy).toBe("permissive");
    expect(() => parseConfig(["--tenancy", "off"], {})).toThrow(
      /--tenancy: "off" is not one of enforce, permissive/,
    );
  });

  it("flags in both forms, env vars, flags win over env", () => {
    const { config } = parseConfig(
      ["--namespaces=a,b", "--concurrency", "8", "--leader-elect=false", "--log-level=debug"],
      { LAIO_CONCURRENCY: "3", LAIO_RESYNC_INTERVAL: "1m30s", POD_NAMESPACE: "ops", LAIO_METRICS_ADDR: "0" },
    );
    expect(config.namespaces).toEqual(["a", "b"]);
    expect(config.concurrency).toBe(8);
    expect(config.leaderElect).toBe(false);
    expect(config.resyncIntervalMs).toBe(90_000);
    expect(config.leaseNamespace).toBe("ops");
    expect(config.recordsNamespace).toBe("ops");
    expect(config.metricsAddr).toBe("");
  });

  const errors: Array<{ name: string; argv: string[]; env?: Record<string, string>; match: RegExp }> = [
    { name: "unknown flag", argv: ["--concurency=2"], match: /unknown option --concurency/ },
    { name: "missing value", argv: ["--concurrency"], match: /--concurrency needs a value/ },
    { name: "bad integer", argv: ["--concurrency=two"], match: /--concurrency: "two" is not an integer/ },
    { name: "zero workers", argv: ["--concurrency=0"], match: /from 1 to 64/ },
    {
      name: "bad duration",
      argv: ["--lease-duration=15"],
      match: /--lease-duration: "15" is not a duration/,
    },
    { name: "bad namespace", argv: ["--namespaces=Prod_1"], match: /"Prod_1" is not one/ },
    { name: "all mixed with names", argv: ["--namespaces=all,a"], match: /"all" cannot be combined/ },
    { name: "bad address", argv: ["--metrics-addr=localhost"], match: /host:port/ },
    { name: "bad level", argv: ["--log-level=verbose"], match: /one of fatal, error/ },
    { name: "bad bool", argv: ["--leader-elect=yes"], match: /true or false/ },
    { name: "env source named", argv: [], env: { LAIO_CONCURRENCY: "x" }, match: /LAIO_CONCURRENCY: "x"/ },
    {
      name: "renew deadline not below lease duration",
      argv: ["--lease-duration=10s", "--renew-deadline=10s"],
      match: /--lease-duration \(10000 ms\) must be greater than --renew-deadline/,
    },
    {
      name: "retry period not below renew deadline",
      argv: ["--retry-period=10s"],
      match: /--renew-deadline \(10000 ms\) must be greater than --retry-period/,
    },
    {
      name: "bad records namespace",
      argv: ["--records-namespace=Ops_1"],
      match: /--records-namespace: "Ops_1"/,
    },
    { name: "positional argument", argv: ["run"], match: /unexpected argument "run"/ },
  ];
  for (const c of errors) {
    it(`error: ${c.name}`, () => {
      const p = problems(c.argv, c.env);
      expect(p.join("\n")).toMatch(c.match);
    });
  }

  it("records namespace: the Lease's namespace unless given", () => {
    expect(parseConfig(["--lease-namespace=laio"], {}).config.recordsNamespace).toBe("laio");
    const { config } = parseConfig(["--lease-namespace=laio", "--records-namespace=laio-records"], {});
    expect(config.recordsNamespace).toBe("laio-records");
    expect(config.leaseNamespace).toBe("laio");
  });

  it("collects every problem at once", () => {
    expect(problems(["--concurrency=0", "--log-level=x", "--nope"]).length).toBe(3);
  });

  it("--help is reported and suppresses errors", () => {
    expect(parseConfig(["--help", "--nope"], {}).help).toBe(true);
  });

  it("help text documents every option and its env var", () => {
    const text = helpText();
    for (const o of OPTIONS) {
      expect(text).toContain(`--${o.flag}`);
      expect(text).toContain(envName(o.flag));
    }
  });

  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["0", 0],
    ["1.5s", 1500],
    ["15", undefined],
    ["s", undefined],
  ])("parseDuration(%s)", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});
