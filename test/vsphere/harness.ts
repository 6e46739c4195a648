/**
 * The lab's vCenter simulator (lib/lab/vcsim.ts) for the tests: the test user, the standard
 * estate, raw SOAP and datastore calls. Also runs the `rehost` CLI for the command tests.
 */
import * as https from "node:https";
import { rehostChildWith, type Run } from "../helpers/cli";
import { startVcsim as startLabVcsim, type EstateSpec, type Vcsim, type VcsimOptions } from "../../lib/lab/vcsim";

export { guestRead, guestWrite, resetCbt, vcsimBinary, type EstateSpec, type Vcsim } from "../../lib/lab/vcsim";

export { REHOST_BIN as REHOST } from "../helpers/cli";
export const USER = "administrator@vsphere.local";
export const PASSWORD = "correct horse battery staple";

/** The estate most tests use: two portgroups, a folder tree, four VMs with varied disks and NICs. */
export const STANDARD_ESTATE: EstateSpec = {
  portgroups: [
    { name: "web", vlan: 101 },
    { name: "db", vlan: 102 },
  ],
  vms: [
    {
      name: "web-01",
      folder: "prod/web",
      cpus: 2,
      memoryMiB: 4096,
      guestId: "rhel7_64Guest",
      disks: [{ capacityMiB: 16 }],
      nics: [
        { portgroup: "web", ips: ["10.1.1.10"] },
        { portgroup: "db", adapter: "e1000e", ips: ["10.1.2.10", "10.1.2.11"] },
      ],
      tags: ["Migration:wave-1", "Tier:gold"],
    },
    {
      name: "web-02",
      folder: "prod/web",
      cpus: 2,
      memoryMiB: 4096,
      guestId: "windows9Server64Guest",
      firmware: "efi",
      disks: [{ capacityMiB: 8 }, { capacityMiB: 4 }],
      nics: [{ portgroup: "web", ips: ["10.1.1.11"] }],
      guestShutdown: "ignore",
      tags: ["Migration:wave-1"],
    },
    {
      name: "db-01",
      folder: "prod",
      controller: "lsilogic",
      disks: [{ capacityMiB: 8 }, { capacityMiB: 4, rdm: "physical" }, { capacityMiB: 4, mode: "independent_persistent" }],
      nics: [{ portgroup: "db", ips: ["10.1.2.20"] }],
      guestShutdown: "no-tools",
    },
    {
      name: "batch-01",
      powerState: "poweredOff",
      disks: [{ capacityMiB: 4 }],
      nics: [{ portgroup: "db", adapter: "vmxnet3", ips: [] }],
    },
  ],
};

/** Starts the simulator with `estate` for the test user, on 127.0.0.1. */
export function startVcsim(estate: EstateSpec, options: Omit<VcsimOptions, "user" | "password"> = {}): Promise<Vcsim> {
  return startLabVcsim(estate, { user: USER, password: PASSWORD, ...options });
}

/** Writes a whole datastore file through the datastore HTTP interface (`PUT /folder/...`). */
export function putDatastoreFile(sim: Vcsim, datastorePath: string, data: Buffer, datastore = "LocalDS_0"): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = `${sim.base}/folder/${datastorePath}?dcPath=DC0&dsName=${encodeURIComponent(datastore)}`;
    const request = https.request(url, { method: "PUT", ca: sim.caPem, headers: { "Content-Length": String(data.length) } }, (response) => {
      response.resume();
      response.on("end", () =>
        response.statusCode === 200 || response.statusCode === 201 ? resolve() : reject(new Error(`PUT ${datastorePath}: HTTP ${response.statusCode}`)),
      );
    });
    request.on("error", reject);
    request.end(data);
  });
}

/** One SOAP call with a raw envelope, for what the client under test must not do itself. */
export function soap(sim: Vcsim, body: string, cookie?: string): Promise<{ status: number; body: string; cookie?: string }> {
  return new Promise((resolve, reject) => {
    const envelope = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
    const request = https.request(
      sim.url,
      { method: "POST", ca: sim.caPem, headers: { "Content-Type": "text/xml", ...(cookie ? { Cookie: cookie } : {}) } },
      (response) => {
        let text = "";
        response.on("data", (d: Buffer) => (text += d.toString()));
        response.on("end", () => {
          const set = (response.headers["set-cookie"] ?? [])[0]?.split(";")[0];
          resolve({ status: response.statusCode ?? 0, body: text, ...(set ? { cookie: set } : {}) });
        });
      },
    );
    request.on("error", reject);
    request.end(envelope);
  });
}

/** What one run of `rehost` printed, and its exit code. */
export type CliResult = Run;

/** Runs `rehost ...args` with `env` added (undefined: removed); never rejects on a non-zero exit. */
export function rehost(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return rehostChildWith({ env }, ...args);
}
