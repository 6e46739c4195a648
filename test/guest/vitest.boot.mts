import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The boot proofs (`npm run test:boot`): TCG boots and a libguestfs appliance take minutes.
// The Windows proof runs only with REHOST_WINDOWS_IMAGE and REHOST_VIRTIO_WIN set (it says so
// otherwise); `npm run test:boot -- windows` runs it alone.
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/guest/boot.proof.ts", "test/guest/windows.boot.proof.ts"],
    pool: "forks",
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    reporters: ["verbose"],
  },
});
