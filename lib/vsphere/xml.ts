/**
 * SOAP envelopes for the vSphere Web Services API (namespace `urn:vim25`): writing request bodies
 * and reading responses with fast-xml-parser. Values stay strings; callers convert what they need.
 */
import { XMLParser } from "fast-xml-parser";

/** A managed object reference (`<_this type="VirtualMachine">vm-42</_this>`). */
export interface MoRef {
  readonly type: string;
  readonly value: string;
}

/** A parsed XML node: text, or an object of child elements and `@attributes`. */
export type XmlNode = string | { readonly [key: string]: XmlNode | readonly XmlNode[] | undefined };

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: false,
  // Element prefixes (`soapenv:`) are dropped; `xsi:type` is kept apart from a reference's `type`.
  transformTagName: (name: string) => name.slice(name.indexOf(":") + 1),
  transformAttributeName: (name: string) => (name.endsWith(":type") ? "@xsitype" : name),
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/** Escapes text for an XML element or attribute. */
function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string);
}

/** `<name>text</name>`, or nothing when `value` is undefined. */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? "" : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A managed object reference element. */
export function ref(name: string, mo: MoRef): string {
  return `<${name} type="${escapeXml(mo.type)}">${escapeXml(mo.value)}</${name}>`;
}

/** A full SOAP request envelope around one method call. */
export function envelope(method: string, self: MoRef, inner: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    `<soapenv:Body><${method} xmlns="urn:vim25">${ref("_this", self)}${inner}</${method}></soapenv:Body></soapenv:Envelope>`
  );
}

/** Parses a SOAP response and returns the content of its Body. */
export function parseBody(xml: string): Record<string, XmlNode> {
  const doc = parser.parse(xml) as Record<string, XmlNode>;
  const env = child(doc, "Envelope");
  const body = child(env, "Body");
  if (body === undefined || typeof body === "string") throw new Error("the response is not a SOAP envelope");
  return body as Record<string, XmlNode>;
}

/** The child element `name` of a node (the first one when repeated). */
export function child(node: XmlNode | readonly XmlNode[] | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === "string") return undefined;
  if (Array.isArray(node)) return child(node[0], name);
  const value = (node as Record<string, XmlNode | XmlNode[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every child element `name` of a node, as a list. */
export function children(node: XmlNode | readonly XmlNode[] | undefined, name: string): XmlNode[] {
  if (node === undefined || typeof node === "string") return [];
  if (Array.isArray(node)) return node.flatMap((n) => children(n, name));
  const value = (node as Record<string, XmlNode | XmlNode[] | undefined>)[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The text of a node (its `#text` when it also has attributes); `undefined` when absent. */
export function text(node: XmlNode | readonly XmlNode[] | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (Array.isArray(node)) return text(node[0]);
  if (typeof node === "string") return node;
  const t = (node as Record<string, XmlNode>)["#text"];
  return typeof t === "string" ? t : t === undefined ? "" : String(t);
}

/** The text of the child element `name`. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  return text(child(node, name));
}

/** The `xsi:type` of a node (`VirtualDisk`, `ArrayOfVirtualDevice`), when given. */
export function xsiType(node: XmlNode | undefined): string | undefined {
  if (node === undefined || typeof node === "string") return undefined;
  const t = (node as Record<string, XmlNode>)["@xsitype"];
  return typeof t === "string" ? t : undefined;
}

/** A managed object reference from a node like `<obj type="VirtualMachine">vm-1</obj>`. */
export function moRef(node: XmlNode | undefined): MoRef | undefined {
  const value = text(node);
  const type = node !== undefined && typeof node !== "string" ? (node as Record<string, XmlNode>)["@type"] : undefined;
  return typeof type === "string" && value !== undefined ? { type, value } : undefined;
}
