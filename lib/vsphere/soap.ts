/**
 * A logged-in SOAP session with vCenter: the session cookie, calls with their faults, a fresh
 * login when vCenter answers `NotAuthenticated` (an expired or terminated session), the
 * PropertyCollector, and tasks polled to completion.
 */
import type * as https from "node:https";
import { post } from "./transport";
import { child, childText, children, el, envelope, moRef, parseBody, ref, text, xsiType, type MoRef, type XmlNode } from "./xml";

/** A fault vCenter returned (`InvalidLogin`, `NotAuthenticated`, `InvalidArgument`, ...). */
export class VSphereFault extends Error {
  constructor(
    /** The fault's type name without the `Fault` suffix. */
    readonly faultName: string,
    message: string,
    /** The fault's detail element, as parsed. */
    readonly detail?: XmlNode,
  ) {
    super(message);
    this.name = "VSphereFault";
  }
}

/** The service content references this client uses. */
export interface ServiceContent {
  readonly rootFolder: MoRef;
  readonly propertyCollector: MoRef;
  readonly viewManager: MoRef;
  readonly sessionManager: MoRef;
  readonly searchIndex: MoRef;
  readonly apiVersion: string;
  readonly apiType: string;
  readonly fullName: string;
}

/** One object's requested properties, by property path. */
export interface ObjectContent {
  readonly obj: MoRef;
  readonly props: ReadonlyMap<string, XmlNode>;
}

const SERVICE_INSTANCE: MoRef = { type: "ServiceInstance", value: "ServiceInstance" };

/**
 * One vCenter session over one HTTPS agent. The password is kept in memory only, to log in again
 * when vCenter ends the session.
 */
export class SoapSession {
  private cookie: string | undefined;
  private content: ServiceContent | undefined;
  private soapAction = "urn:vim25/6.7";
  /** The key of the current session, from Login. */
  sessionKey: string | undefined;

  /** The session cookie (`vmware_soap_session=…`), which vCenter's datastore HTTP interface also takes. */
  get sessionCookie(): string | undefined {
    return this.cookie;
  }

  constructor(
    private readonly endpoint: URL,
    private readonly agent: https.Agent,
    private readonly credentials: { readonly user: string; readonly password: string },
    private readonly timeoutMs: number,
  ) {}

  /** The service content, fetched once. */
  async serviceContent(): Promise<ServiceContent> {
    if (this.content) return this.content;
    const body = await this.raw("RetrieveServiceContent", SERVICE_INSTANCE, "");
    const rv = child(child(body, "RetrieveServiceContentResponse"), "returnval");
    const about = child(rv, "about");
    const need = (name: string): MoRef => {
      const r = moRef(child(rv, name));
      if (!r) throw new VSphereFault("InvalidResponse", `the service content has no ${name}`);
      return r;
    };
    this.content = {
      rootFolder: need("rootFolder"),
      propertyCollector: need("propertyCollector"),
      viewManager: need("viewManager"),
      sessionManager: need("sessionManager"),
      searchIndex: need("searchIndex"),
      apiVersion: childText(about, "apiVersion") ?? "6.7",
      apiType: childText(about, "apiType") ?? "",
      fullName: childText(about, "fullName") ?? "",
    };
    this.soapAction = `urn:vim25/${this.content.apiVersion}`;
    return this.content;
  }

  /** Logs in with the stored credentials; the session cookie is kept for every later call. */
  async login(): Promise<void> {
    const sc = await this.serviceContent();
    this.cookie = undefined;
    const body = await this.raw("Login", sc.sessionManager, el("userName", this.credentials.user) + el("password", this.credentials.password));
    this.sessionKey = childText(child(child(body, "LoginResponse"), "returnval"), "key");
  }

  /** Ends the session; a session that is already gone is not an error. */
  async logout(): Promise<void> {
    if (this.cookie === undefined) return;
    const sc = await this.serviceContent();
    try {
      await this.raw("Logout", sc.sessionManager, "");
    } catch (err) {
      if (!(err instanceof VSphereFault && err.faultName === "NotAuthenticated")) throw err;
    } finally {
      this.cookie = undefined;
    }
  }

  /**
   * Calls `method` on `self` and returns the response element (`<MethodResponse>`). A
   * `NotAuthenticated` fault logs in again once and repeats the call.
   */
  async call(method: string, self: MoRef, inner: string): Promise<XmlNode | undefined> {
    try {
      return child(await this.raw(method, self, inner), `${method}Response`);
    } catch (err) {
      if (err instanceof VSphereFault && err.faultName === "NotAuthenticated" && method !== "Login") {
        await this.login();
        return child(await this.raw(method, self, inner), `${method}Response`);
      }
      throw err;
    }
  }

  private async raw(method: string, self: MoRef, inner: string): Promise<Record<string, XmlNode>> {
    const headers: Record<string, string> = { "Content-Type": "text/xml; charset=utf-8", SOAPAction: this.soapAction };
    if (this.cookie !== undefined) headers.Cookie = this.cookie;
    const reply = await post(this.agent, this.endpoint, headers, envelope(method, self, inner), this.timeoutMs);
    for (const header of reply.setCookie) {
      const pair = header.split(";")[0];
      if (pair?.startsWith("vmware_soap_session=")) this.cookie = pair;
    }
    let body: Record<string, XmlNode>;
    try {
      body = parseBody(reply.body);
    } catch {
      throw new VSphereFault("InvalidResponse", `${method}: HTTP ${reply.status} from ${this.endpoint.href} is not a SOAP answer`);
    }
    const fault = body.Fault;
    if (fault !== undefined) throw faultFrom(fault, method);
    if (reply.status !== 200) throw new VSphereFault("InvalidResponse", `${method}: HTTP ${reply.status} from ${this.endpoint.href}`);
    return body;
  }

  /**
   * Retrieves properties with `RetrievePropertiesEx`, following continuation tokens.
   * `objectSet` is the inner XML of one `<objectSet>`.
   */
  async retrieve(propSets: ReadonlyArray<{ type: string; paths: readonly string[] }>, objectSet: string): Promise<ObjectContent[]> {
    const sc = await this.serviceContent();
    const specs = propSets.map((p) => `<propSet>${el("type", p.type)}${p.paths.map((path) => el("pathSet", path)).join("")}</propSet>`).join("");
    const out: ObjectContent[] = [];
    let response = await this.call(
      "RetrievePropertiesEx",
      sc.propertyCollector,
      `<specSet>${specs}<objectSet>${objectSet}</objectSet></specSet><options></options>`,
    );
    for (;;) {
      const rv = child(response, "returnval");
      out.push(...objectContents(rv));
      const token = childText(rv, "token");
      if (token === undefined || token === "") return out;
      response = await this.call("ContinueRetrievePropertiesEx", sc.propertyCollector, el("token", token));
    }
  }

  /** Properties of one object. */
  async properties(obj: MoRef, paths: readonly string[]): Promise<ReadonlyMap<string, XmlNode>> {
    const [content] = await this.retrieve([{ type: obj.type, paths }], ref("obj", obj));
    return content?.props ?? new Map();
  }

  /** Properties of every object of the given types under the root folder, through a container view. */
  async retrieveAll(propSets: ReadonlyArray<{ type: string; paths: readonly string[] }>): Promise<ObjectContent[]> {
    const sc = await this.serviceContent();
    const created = await this.call(
      "CreateContainerView",
      sc.viewManager,
      ref("container", sc.rootFolder) + propSets.map((p) => el("type", p.type)).join("") + el("recursive", true),
    );
    const view = moRef(child(created, "returnval"));
    if (!view) throw new VSphereFault("InvalidResponse", "CreateContainerView returned no view");
    try {
      return await this.retrieve(
        propSets,
        ref("obj", view) +
          el("skip", true) +
          `<selectSet xsi:type="TraversalSpec">${el("name", "view")}${el("type", "ContainerView")}${el("path", "view")}${el("skip", false)}</selectSet>`,
      );
    } finally {
      await this.call("DestroyView", view, "").catch(() => undefined);
    }
  }

  /**
   * Polls a task until it succeeds (returns its `info.result`) or fails (throws its fault).
   * Polling backs off from 100 ms to 1 s; past `deadlineMs` it throws a timeout error.
   */
  async waitForTask(task: MoRef, what: string, deadlineMs = 10 * 60_000): Promise<XmlNode | undefined> {
    const until = Date.now() + deadlineMs;
    let delay = 100;
    for (;;) {
      const props = await this.properties(task, ["info.state", "info.error", "info.result"]);
      const state = text(props.get("info.state"));
      if (state === "success") return props.get("info.result");
      if (state === "error") {
        const error = props.get("info.error");
        const fault = child(error, "fault");
        const name = xsiType(fault) ?? "TaskFailed";
        const message = childText(error, "localizedMessage") || name;
        throw new VSphereFault(name, `${what} failed: ${message}`, fault);
      }
      if (Date.now() > until)
        throw new VSphereFault("Timeout", `${what} did not finish within ${Math.round(deadlineMs / 1000)} s (task ${task.value} is ${state})`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}

/** The objects of a `RetrieveResult` (`<returnval>` of RetrievePropertiesEx) with their properties. */
export function objectContents(result: XmlNode | undefined): ObjectContent[] {
  const out: ObjectContent[] = [];
  for (const object of children(result, "objects")) {
    const obj = moRef(child(object, "obj"));
    if (!obj) continue;
    const props = new Map<string, XmlNode>();
    for (const prop of children(object, "propSet")) {
      const name = childText(prop, "name");
      const val = child(prop, "val");
      if (name !== undefined && val !== undefined) props.set(name, val);
    }
    out.push({ obj, props });
  }
  return out;
}

function faultFrom(fault: XmlNode, method: string): VSphereFault {
  const detail = child(fault, "detail");
  let name = "ServerFault";
  let node: XmlNode | undefined;
  if (detail !== undefined && typeof detail !== "string") {
    const key = Object.keys(detail).find((k) => !k.startsWith("@") && k !== "#text");
    if (key !== undefined) {
      node = child(detail, key);
      name = xsiType(node) ?? key.replace(/Fault$/, "");
    }
  }
  const message = childText(fault, "faultstring") || name;
  return new VSphereFault(name, `${method}: ${message}`, node);
}
