import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The boot proof (`npm run test:boot`): TCG boots and a libguestfs appliance take minutes.
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/guest/boot.proof.ts"],
    pool: "forks",
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    reporters: ["verbose"],
  },
});
