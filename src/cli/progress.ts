/**
 * Progress for long commands: "observed n/total" redrawn on stderr when stderr is a terminal, nothing otherwise
 * (CI logs stay clean; stdout stays the report, so `plan > plan.md` works on a terminal too).
 */
export function progress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): {
  update: (done: number, total: number) => void;
  end: () => void;
} {
  const on = stream.isTTY === true && !process.env.CI;
  let drawn = false;
  return {
    update: (done, total) => {
      if (!on) return;
      stream.write(`\r${label}: ${done}/${total} objects observed`);
      drawn = true;
    },
    end: () => {
      if (on && drawn) stream.write("\r\x1b[K");
    },
  };
}
