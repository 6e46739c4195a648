/** Where the providers' credentials are read from: the stack config key and the environment variable of each. */
import { describe, expect, it } from "vitest";
import { CREDENTIALS, ProviderCredentials } from "../../lib/providers/credentials";

describe("CREDENTIALS", () => {
  it("names every credential's config key and environment variable as the documentation says", () => {
    expect(CREDENTIALS).toEqual({
      agentToken: { config: "rehost:agentToken", env: "REHOST_AGENT_TOKEN" },
      agentTokenFile: { config: "rehost:agentTokenFile", env: "REHOST_AGENT_TOKEN_FILE" },
      agentFingerprint: { config: "rehost:agentFingerprint", env: "REHOST_AGENT_FINGERPRINT" },
      agentCaFile: { config: "rehost:agentCaFile", env: "REHOST_AGENT_CA_FILE" },
      proxyToken: { config: "rehost:proxyToken", env: "REHOST_PROXY_TOKEN" },
      proxyTokenFile: { config: "rehost:proxyTokenFile", env: "REHOST_PROXY_TOKEN_FILE" },
      proxyFingerprint: { config: "rehost:proxyFingerprint", env: "REHOST_PROXY_FINGERPRINT" },
      proxyCaFile: { config: "rehost:proxyCaFile", env: "REHOST_PROXY_CA_FILE" },
      vcenterUrl: { config: "rehost:vcenterUrl", env: "REHOST_VCENTER_URL" },
      vcenterUser: { config: "rehost:vcenterUser", env: "REHOST_VCENTER_USER" },
      vcenterPassword: { config: "rehost:vcenterPassword", env: "REHOST_VCENTER_PASSWORD" },
      vcenterCaFile: { config: "rehost:vcenterCaFile", env: "REHOST_VCENTER_CA_FILE" },
      vcenterThumbprint: { config: "rehost:vcenterThumbprint", env: "REHOST_VCENTER_THUMBPRINT" },
    });
  });

  it("reads the config first, then the environment, and names both when a credential is missing", () => {
    const fromConfig = new ProviderCredentials({ get: (k) => (k === "rehost:vcenterUrl" ? "https://vc" : undefined) }, { REHOST_VCENTER_URL: "https://other" });
    expect(fromConfig.vsphereConfigured()).toBe(true);
    expect(new ProviderCredentials({ get: () => undefined }, { REHOST_VCENTER_URL: "" }).vsphereConfigured()).toBe(false);
    const none = new ProviderCredentials({ get: () => undefined }, {});
    expect(() => none.agentClient("https://agent")).toThrow(
      "No agent token: set rehost:agentToken (pulumi config set --secret rehost:agentToken …) or REHOST_AGENT_TOKEN, or REHOST_AGENT_TOKEN_FILE.",
    );
  });
});
