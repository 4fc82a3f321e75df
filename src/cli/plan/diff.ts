/** A small unified line diff (LCS), for showing only the operator's part of an APIM document in a plan. */

export function unifiedDiff(before: string, after: string, label: string, context = 1): string {
  const a = before === "" ? [] : before.split(/\r?\n/);
  const b = after === "" ? [] : after.split(/\r?\n/);
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { t: " " | "-" | "+"; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ t: " ", line: a[i]! });
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) ops.push({ t: "+", line: b[j++]! });
    else ops.push({ t: "-", line: a[i++]! });
  }
  if (!ops.some((o) => o.t !== " ")) return "";
  const keep = ops.map((o, k) =>
    ops.slice(Math.max(0, k - context), k + context + 1).some((x) => x.t !== " "),
  );
  const out = [`--- ${label} (Azure now)`, `+++ ${label} (after apply)`];
  let gap = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      gap = true;
      return;
    }
    if (gap) out.push("@@ ... @@");
    gap = false;
    out.push(`${o.t}${o.line}`);
  });
  return out.join("\n");
}
