import type { CommandIO } from "../plan/command.ts";
export async function evidenceCommand(_argv: readonly string[], io: CommandIO): Promise<number> {
  io.stderr("evidence: not built yet\n");
  return 1;
}
