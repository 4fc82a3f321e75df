/** Which API a request belongs to, and which ARM throttling bucket an operation draws from. */
export type Api = "arm" | "graph";
export type OperationKind = "read" | "write" | "delete";
