/**
 * vSphere tags of the VMs. The SOAP API has no tags; vCenter serves them through its vAPI REST
 * endpoint (`/rest/com/vmware/cis/...`, vCenter 6.5 to 8), with a session of its own opened with
 * the same user and password. Each VM gets its tags both as `name` and as `Category:name`, so a
 * wave can select by either (the second when two categories hold a tag of the same name).
 */
import type * as https from "node:https";
import { exchange, type HttpReply } from "./transport";

const REST = "/rest/com/vmware/cis";
/** Requests in flight at once while reading tags and categories one by one. */
const CONCURRENCY = 4;

/** Why the tags could not be read (no vAPI endpoint, a refused login, an unexpected answer). */
class TagsUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TagsUnavailable";
  }
}

interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** The tags attached to each VM, by the VM's managed object id (`vm-42`), sorted. */
export async function readVmTags(base: URL, agent: https.Agent, credentials: Credentials, timeoutMs: number): Promise<Map<string, string[]>> {
  const url = (path: string): URL => new URL(`${REST}${path}`, base);
  const login = await exchange(
    agent,
    "POST",
    url("/session"),
    { Authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}` },
    "",
    timeoutMs,
  );
  if (login.status === 404) throw new TagsUnavailable(`${base.host} has no vAPI endpoint (${REST}/session answered 404; an ESXi host has none)`);
  if (login.status === 401 || login.status === 403)
    throw new TagsUnavailable(`${base.host} refused the vAPI login of ${credentials.user} (HTTP ${login.status})`);
  const session = valueOf<string>(login, "session");
  const headers = { "vmware-api-session-id": session, "Content-Type": "application/json" };
  const get = async <T>(path: string): Promise<T> => valueOf<T>(await exchange(agent, "GET", url(path), headers, undefined, timeoutMs), path);
  try {
    // An empty list may come as null.
    const tagIds = (await get<string[] | null>("/tagging/tag")) ?? [];
    const byVm = new Map<string, Set<string>>();
    if (tagIds.length === 0) return new Map();
    const tags = await mapLimited(tagIds, (id) => get<{ name: string; category_id: string }>(`/tagging/tag/id:${encodeURIComponent(id)}`));
    const categoryIds = [...new Set(tags.map((t) => t.category_id))];
    const categories = new Map(
      await mapLimited(categoryIds, async (id) => [id, (await get<{ name: string }>(`/tagging/category/id:${encodeURIComponent(id)}`)).name] as const),
    );
    const attached = valueOf<Array<{ tag_id: string; object_ids?: Array<{ type: string; id: string }> | null }> | null>(
      await exchange(
        agent,
        "POST",
        url("/tagging/tag-association?~action=list-attached-objects-on-tags"),
        headers,
        JSON.stringify({ tag_ids: tagIds }),
        timeoutMs,
      ),
      "tag-association",
    );
    const tagById = new Map(tagIds.map((id, i) => [id, tags[i]] as const));
    for (const { tag_id: tagId, object_ids: objects } of attached ?? []) {
      const tag = tagById.get(tagId);
      if (tag === undefined) continue;
      const category = categories.get(tag.category_id);
      for (const object of objects ?? []) {
        if (object.type !== "VirtualMachine") continue;
        const names = byVm.get(object.id) ?? new Set<string>();
        names.add(tag.name);
        if (category !== undefined) names.add(`${category}:${tag.name}`);
        byVm.set(object.id, names);
      }
    }
    return new Map([...byVm].map(([vm, names]) => [vm, [...names].sort()]));
  } finally {
    await exchange(agent, "DELETE", url("/session"), headers, undefined, timeoutMs).catch(() => undefined);
  }
}

/** The `value` of a vAPI REST answer, or TagsUnavailable naming the request. */
function valueOf<T>(reply: HttpReply, what: string): T {
  if (reply.status !== 200) throw new TagsUnavailable(`vAPI ${what} answered HTTP ${reply.status}`);
  try {
    const value = (JSON.parse(reply.body) as { value?: T }).value;
    if (value === undefined) throw new Error("no value");
    return value;
  } catch {
    throw new TagsUnavailable(`vAPI ${what} did not answer with a JSON value`);
  }
}

/** `f` over `items`, at most CONCURRENCY at once, results in order. */
async function mapLimited<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await f(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}
