/*
 * The shared vocabulary every folder may import, and which imports nothing of skyplane's own: where
 * things live on this machine, region ids, store URI schemes, how long gateways live, and which process
 * is which. See ARCHITECTURE.md.
 */
export * from "./paths";
export * from "./process";
export * from "./regions";
export * from "./schemes";
export * from "./ttl";
