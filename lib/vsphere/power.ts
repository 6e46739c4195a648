/**
 * A VM's power: its state, power on and off (no-ops when already there), and a guest shutdown that
 * falls back to power-off when the guest cannot or does not stop in time.
 */
import { runTask } from "./tasks";
import { VSphereFault, type SoapSession } from "./soap";
import type { PowerState, ShutdownOutcome, VmHandle } from "./types";
import { vmRef } from "./vms";
import { text } from "./xml";

/** The VM's `runtime.powerState`. */
export async function powerState(session: SoapSession, vm: VmHandle): Promise<PowerState> {
  const props = await session.properties(vmRef(vm), ["runtime.powerState"]);
  return (text(props.get("runtime.powerState")) ?? "poweredOff") as PowerState;
}

/** Powers the VM on; no-op when it is on. */
export async function powerOn(session: SoapSession, vm: VmHandle): Promise<void> {
  if ((await powerState(session, vm)) === "poweredOn") return;
  await runTask(session, "PowerOnVM_Task", vmRef(vm), "", `powering on ${vm.name}`);
}

/** Powers the VM off (hard); no-op when it is off. */
export async function powerOff(session: SoapSession, vm: VmHandle): Promise<void> {
  if ((await powerState(session, vm)) === "poweredOff") return;
  await runTask(session, "PowerOffVM_Task", vmRef(vm), "", `powering off ${vm.name}`);
}

/**
 * Asks the guest to shut down and waits up to `timeoutMs` for power-off; powers off when the
 * guest has no tools, refuses, or does not stop in time.
 */
export async function shutdownGuest(session: SoapSession, vm: VmHandle, options: { timeoutMs: number }): Promise<ShutdownOutcome> {
  if ((await powerState(session, vm)) === "poweredOff") return "already-off";
  try {
    await session.call("ShutdownGuest", vmRef(vm), "");
  } catch (err) {
    if (err instanceof VSphereFault && ["ToolsUnavailable", "InvalidState", "InvalidPowerState", "NotSupported", "TaskInProgress"].includes(err.faultName)) {
      await powerOff(session, vm);
      return "powered-off";
    }
    throw err;
  }
  const until = Date.now() + options.timeoutMs;
  let delay = 200;
  while (Date.now() < until) {
    if ((await powerState(session, vm)) === "poweredOff") return "guest-shutdown";
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(until - Date.now(), 0))));
    delay = Math.min(delay * 2, 2000);
  }
  if ((await powerState(session, vm)) === "poweredOff") return "guest-shutdown";
  await powerOff(session, vm);
  return "powered-off";
}
