/**
 * A client of the source proxy's API (the providers, the lab, `rehost status`), over
 * `ServiceClient`: the proxy's certificate pinned (or a CA trusted) before the token is sent.
 */
import { ServiceClient, ServiceRequestError, type ServiceClientOptions } from "../service/client";
import type { CutoverRequest, DiskRegistrationInput, PointRequest, PointStatus, VmStatus } from "./api";

/** An error response from the proxy (or a failure to reach it, with status 0). */
export class ProxyRequestError extends ServiceRequestError {
  constructor(status: number, message: string, body: unknown = undefined) {
    super(status, message, body);
    this.name = "ProxyRequestError";
  }
}

const vmPath = (vm: string): string => `/v1/vms/${encodeURIComponent(vm)}`;

/** Typed calls to the proxy API (see docs/proxy.md). */
export class ProxyClient extends ServiceClient {
  constructor(options: ServiceClientOptions) {
    super(options, "Proxy", (status, message, body) => new ProxyRequestError(status, message, body));
  }

  health(): Promise<Record<string, unknown>> {
    return this.request("GET", "/v1/health");
  }
  list(): Promise<{ vms: VmStatus[] }> {
    return this.request("GET", "/v1/vms");
  }
  get(vm: string): Promise<VmStatus> {
    return this.request("GET", vmPath(vm));
  }
  /** Returns the VM, or undefined when the proxy does not replicate it. */
  async find(vm: string): Promise<VmStatus | undefined> {
    try {
      return await this.get(vm);
    } catch (err) {
      if (err instanceof ProxyRequestError && err.status === 404) return undefined;
      throw err;
    }
  }
  registerDisk(vm: string, key: number, registration: DiskRegistrationInput): Promise<VmStatus> {
    return this.request("PUT", `${vmPath(vm)}/disks/${key}`, registration);
  }
  /** Stops replicating a disk; false when the proxy did not replicate it. */
  async removeDisk(vm: string, key: number): Promise<boolean> {
    try {
      await this.request("DELETE", `${vmPath(vm)}/disks/${key}`);
      return true;
    } catch (err) {
      if (err instanceof ProxyRequestError && err.status === 404) return false;
      throw err;
    }
  }
  roundNow(vm: string, mode: "auto" | "resync" = "auto"): Promise<VmStatus> {
    return this.request("POST", `${vmPath(vm)}/rounds`, { mode });
  }
  cutover(vm: string, request: Partial<CutoverRequest> = {}): Promise<VmStatus> {
    return this.request("POST", `${vmPath(vm)}/cutover`, request);
  }
  point(request: Partial<PointRequest> & Pick<PointRequest, "name" | "vms">): Promise<PointStatus> {
    return this.request("POST", "/v1/points", request);
  }
  getPoint(name: string): Promise<PointStatus> {
    return this.request("GET", `/v1/points/${encodeURIComponent(name)}`);
  }
  /** Thaws the point's jobs on their agents and forgets it. */
  releasePoint(name: string): Promise<{ name: string; thawed: string[] }> {
    return this.request("DELETE", `/v1/points/${encodeURIComponent(name)}`);
  }
  /** Powers the source VM on again after a cutover. */
  rollback(vm: string): Promise<VmStatus> {
    return this.request("POST", `${vmPath(vm)}/rollback`);
  }
}
