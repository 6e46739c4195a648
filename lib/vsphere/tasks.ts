/**
 * vSphere tasks: the task a `*_Task` method returns, and such a call run to its end (the task's
 * result, or its fault as a `VSphereFault`).
 */
import { VSphereFault, type SoapSession } from "./soap";
import { child, moRef, type MoRef, type XmlNode } from "./xml";

/** The task a `*_Task` call answered with. */
function taskRef(response: XmlNode | undefined): MoRef {
  const task = moRef(child(response, "returnval"));
  if (!task) throw new VSphereFault("InvalidResponse", "the call returned no task");
  return task;
}

/** Calls the `*_Task` method `method` on `self` and waits for its task; `what` names it in a timeout or fault. */
export async function runTask(session: SoapSession, method: string, self: MoRef, inner: string, what: string): Promise<XmlNode | undefined> {
  const task = await session.call(method, self, inner);
  return session.waitForTask(taskRef(task), what);
}
