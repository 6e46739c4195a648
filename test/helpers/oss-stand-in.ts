/**
 * A stand-in for what a sync gateway reaches inside the VPC: the ECS metadata service (a RAM
 * role's temporary credentials) and an OSS bucket's internal endpoint (objects, readable only
 * with a request signed by those credentials, OSS signature version 1). Run as its own process —
 * inside a network namespace the test created — and stopped by PID:
 *
 *   node --import tsx oss-stand-in.ts CONFIG.json
 *
 * CONFIG: { host, port, bucket, role, credentials: { AccessKeyId, AccessKeySecret, SecurityToken },
 * objects: { key: file }, roleMissingFor: n (the first n credential requests get 404, as before
 * the role is attached), log: file (one JSON line per request) }. Prints `listening` once ready.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";

interface StandInConfig {
  host: string;
  port: number;
  bucket: string;
  role: string;
  credentials: { AccessKeyId: string; AccessKeySecret: string; SecurityToken: string };
  objects: Record<string, string>;
  roleMissingFor?: number;
  log: string;
}

const config = JSON.parse(fs.readFileSync(process.argv[2]!, "utf8")) as StandInConfig;
let credentialRequests = 0;

function record(entry: Record<string, unknown>): void {
  fs.appendFileSync(config.log, `${JSON.stringify(entry)}\n`);
}

function ossError(res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code></Error>\n`);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://stand-in");
  const credentialsPath = "/latest/meta-data/ram/security-credentials/";
  if (url.pathname.startsWith(credentialsPath)) {
    credentialRequests++;
    const role = decodeURIComponent(url.pathname.slice(credentialsPath.length));
    const attached = credentialRequests > (config.roleMissingFor ?? 0);
    const status = role === config.role && attached ? 200 : 404;
    record({ kind: "credentials", role, status });
    if (status !== 200) {
      res.writeHead(404).end("Not Found");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ...config.credentials, Expiration: new Date(Date.now() + 3600_000).toISOString(), Code: "Success" }));
    return;
  }
  const key = decodeURIComponent(url.pathname.slice(1));
  const file = config.objects[key];
  const date = String(req.headers.date ?? "");
  const token = String(req.headers["x-oss-security-token"] ?? "");
  const canonical = ["GET", "", "", date, `x-oss-security-token:${token}`, `/${config.bucket}/${key}`].join("\n");
  const expected = `OSS ${config.credentials.AccessKeyId}:${crypto.createHmac("sha1", config.credentials.AccessKeySecret).update(canonical).digest("base64")}`;
  const signed = token === config.credentials.SecurityToken && req.headers.authorization === expected && date !== "";
  const status = req.method !== "GET" ? 405 : !signed ? 403 : file === undefined ? 404 : 200;
  record({ kind: "object", key, status, signed });
  if (status === 405) return ossError(res, 405, "MethodNotAllowed");
  if (status === 403) return ossError(res, 403, "SignatureDoesNotMatch");
  if (status === 404) return ossError(res, 404, "NoSuchKey");
  res.writeHead(200, { "content-type": "application/gzip", "content-length": fs.statSync(file!).size });
  fs.createReadStream(file!).pipe(res);
});

server.listen(config.port, config.host, () => {
  process.stdout.write("listening\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
