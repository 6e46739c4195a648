/**
 * IPv4 addresses and CIDR blocks: the arithmetic (`cidr.ts`) and the syntax check that reports a
 * `Problem` (`check.ts`). A leaf: it imports nothing of rehost but `lib/problems`, so the
 * inventory, the planner, the components, the stacks and the policies all use this one copy.
 */
export * from "./cidr";
export * from "./check";
