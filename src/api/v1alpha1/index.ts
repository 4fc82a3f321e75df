export * from "./group.ts";
export * from "./metadata.ts";
export * from "./conditions.ts";
export * from "./binding.ts";
export * from "./jwt-policy.ts";
export * from "./patterns.ts";
export * from "./arm-id.ts";
export * from "./access-policy.ts";
