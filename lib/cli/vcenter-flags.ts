/**
 * The flags of the commands that connect to vCenter (`rehost inventory`, `rehost proxy`), by the
 * option of `connectVSphere` each one sets, so that a connection problem names the flag to fix.
 */
import type { ConnectFieldNames } from "../vsphere/connect";
import { PASSWORD_ENV } from "../vsphere/password";

/** `connectVSphere`'s options as these commands take them; the password only ever comes from the environment (or a prompt). */
export const VCENTER_FLAGS: ConnectFieldNames = {
  url: "--vcenter",
  user: "--user",
  password: PASSWORD_ENV,
  ca: "--ca",
  thumbprint: "--thumbprint",
  insecure: "--insecure",
};
