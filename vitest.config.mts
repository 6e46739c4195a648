import { defineConfig } from "vitest/config";

// Forks, not threads: Pulumi closure serialization breaks under worker threads.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    // Most files wait on servers, disks and the appliance rather than on the CPU: three at once
    // on two cores (the default would run one at a time here).
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
