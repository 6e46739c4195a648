/**
 * The bash body of a sync gateway's user data (`gatewayUserData` in `gateway-bootstrap.ts` puts
 * the settings' variables above it): the steps `install_runtime`, `write_helper` (the small Node
 * program for the signed GET and the health probe), `fetch_bundle`, `verify_bundle`,
 * `install_bundle`, `write_config`, `start_agent` and `check_agent`, each an idempotent shell
 * function, run in that order by `main`.
 */

/** The script's steps; every setting comes from the variables above it. */
export const SCRIPT_BODY = String.raw`
ETC="$REHOST_ROOT/etc/rehost"
STATE="$REHOST_ROOT/var/lib/rehost"
HOME_DIR="$REHOST_ROOT/opt/rehost"
BUNDLE_FILE="$HOME_DIR/bundles/$REHOST_BUNDLE_SHA256.tgz"
RELEASE="$HOME_DIR/releases/$REHOST_BUNDLE_SHA256"
HELPER="$HOME_DIR/bootstrap.js"
TOKEN_FILE="$ETC/agent.token"
PSK_DIR="$ETC/psk"
UNIT="$REHOST_ROOT/etc/systemd/system/rehost-agent.service"
PID_FILE="$REHOST_ROOT/run/rehost-agent.pid"
AGENT_LOG="$REHOST_ROOT/var/log/rehost-agent.log"

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) rehost-bootstrap: $*"
  printf '%s\n' "$line" >>"$REHOST_LOG"
  { printf '%s\n' "$line" >>"$REHOST_CONSOLE"; } 2>/dev/null || true
}

die() {
  log "FAILED: $*"
  exit 1
}

trap 'status=$?; log "FAILED: line $LINENO: $BASH_COMMAND exited $status"; exit $status' ERR

install_runtime() {
  local missing="" pkg installed
  case "$REHOST_RUNTIME_MANAGER" in
    dnf)
      for pkg in $REHOST_RUNTIME_PACKAGES; do rpm -q "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
      if [ -n "$missing" ]; then
        log "installing$missing from the image's package mirror"
        if [ -n "$REHOST_RUNTIME_MODULES" ]; then dnf -y module enable $REHOST_RUNTIME_MODULES >>"$REHOST_LOG" 2>&1 || die "dnf cannot enable module stream(s) $REHOST_RUNTIME_MODULES"; fi
        if ! dnf -y install $missing >>"$REHOST_LOG" 2>&1; then
          log "versions the mirror offers:"
          for pkg in $missing; do dnf --showduplicates list "${"$"}{pkg%%-[0-9]*}" >>"$REHOST_LOG" 2>&1 || true; done
          die "dnf cannot install$missing: set rehost:gatewayRuntime to versions the image's mirror has (listed above)"
        fi
      fi
      ;;
    apt)
      for pkg in $REHOST_RUNTIME_PACKAGES; do
        installed="$(dpkg-query -W -f='${"$"}{Version}' "${"$"}{pkg%%=*}" 2>/dev/null || true)"
        [ "$installed" = "${"$"}{pkg#*=}" ] || missing="$missing $pkg"
      done
      if [ -n "$missing" ]; then
        log "installing$missing from the image's package mirror"
        apt-get update >>"$REHOST_LOG" 2>&1 || die "apt-get update failed: the image's mirror is not reachable"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >>"$REHOST_LOG" 2>&1; then
          log "versions the mirror offers:"
          for pkg in $missing; do apt-cache madison "${"$"}{pkg%%=*}" >>"$REHOST_LOG" 2>&1 || true; done
          die "apt-get cannot install$missing: set rehost:gatewayRuntime to versions the image's mirror has (listed above)"
        fi
      fi
      ;;
    none) ;;
    *) die "unknown package manager $REHOST_RUNTIME_MANAGER" ;;
  esac
  [ -x "$REHOST_NODE" ] || die "no Node.js at $REHOST_NODE"
  "$REHOST_NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= Number(process.argv[1]) ? 0 : 1)' "$REHOST_NODE_MAJOR" ||
    die "$REHOST_NODE is Node.js $("$REHOST_NODE" --version), older than $REHOST_NODE_MAJOR"
  log "runtime: Node.js $("$REHOST_NODE" --version) at $REHOST_NODE"
}

write_helper() {
  install -d -m 0755 "$HOME_DIR" "$HOME_DIR/bundles" "$HOME_DIR/releases"
  cat >"$HELPER.tmp" <<'HELPER'
"use strict";
// rehost gateway bootstrap helper: "fetch OUT" (the bundle, signed with the instance's RAM role) and "health".
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const { pipeline } = require("node:stream/promises");
const env = process.env;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function get(url, headers, options) {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith("https:") ? https : http).get(url, { headers, timeout: 30000, ...options }, resolve);
    req.on("timeout", () => req.destroy(new Error("no answer for 30 s")));
    req.on("error", reject);
  });
}
async function text(res) {
  let body = "";
  res.setEncoding("utf8");
  for await (const chunk of res) body += chunk;
  return body;
}
async function retry(what, seconds, attempt) {
  const deadline = Date.now() + seconds * 1000;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() + 1000 > deadline) throw new Error(what + ": " + err.message + " (gave up after " + seconds + " s)");
      process.stderr.write(what + ": " + err.message + "; trying again\n");
      await sleep(Math.min(15000, 500 * 2 ** n, Math.max(0, deadline - Date.now())));
    }
  }
}
async function credentials() {
  const res = await get(env.REHOST_METADATA + "/latest/meta-data/ram/security-credentials/" + env.REHOST_RAM_ROLE, {});
  const body = await text(res);
  if (res.statusCode !== 200) throw new Error("the instance has no credentials of RAM role " + env.REHOST_RAM_ROLE + " yet (HTTP " + res.statusCode + ")");
  const c = JSON.parse(body);
  if (!c.AccessKeyId || !c.AccessKeySecret || !c.SecurityToken) throw new Error("the metadata service answered without credentials");
  return c;
}
function signedHeaders(c) {
  const date = new Date().toUTCString();
  const canonical = ["GET", "", "", date, "x-oss-security-token:" + c.SecurityToken, "/" + env.REHOST_BUNDLE_BUCKET + "/" + env.REHOST_BUNDLE_KEY].join("\n");
  const signature = crypto.createHmac("sha1", c.AccessKeySecret).update(canonical).digest("base64");
  return { Date: date, "x-oss-security-token": c.SecurityToken, Authorization: "OSS " + c.AccessKeyId + ":" + signature };
}
async function fetchBundle(out) {
  await retry("GET " + env.REHOST_BUNDLE_URL, Number(env.REHOST_FETCH_TIMEOUT), async () => {
    const headers = env.REHOST_RAM_ROLE ? signedHeaders(await credentials()) : {};
    const res = await get(env.REHOST_BUNDLE_URL, headers, {});
    if (res.statusCode !== 200) {
      const code = /<Code>([^<]*)<\/Code>/.exec(await text(res));
      throw new Error("HTTP " + res.statusCode + (code ? " " + code[1] : ""));
    }
    await pipeline(res, fs.createWriteStream(out + ".part", { mode: 0o600 }));
    fs.renameSync(out + ".part", out);
  });
}
async function health() {
  const token = fs.readFileSync(env.REHOST_TOKEN_FILE, "utf8").trim();
  const answer = await retry("the agent's health endpoint", Number(env.REHOST_HEALTH_TIMEOUT), async () => {
    // The agent's own certificate, created at its first start; trusted as it is (loopback).
    const ca = fs.readFileSync(env.REHOST_AGENT_CERT, "utf8");
    const res = await get("https://127.0.0.1:" + env.REHOST_AGENT_PORT + "/v1/health", { Authorization: "Bearer " + token }, { ca, checkServerIdentity: () => undefined });
    const body = await text(res);
    if (res.statusCode !== 200) throw new Error("HTTP " + res.statusCode);
    return JSON.parse(body);
  });
  process.stdout.write("rehost agent " + answer.version + " answers on port " + env.REHOST_AGENT_PORT + "\n");
}
const [command, arg] = process.argv.slice(2);
(command === "fetch" ? fetchBundle(arg) : command === "health" ? health() : Promise.reject(new Error("unknown command " + command))).catch((err) => {
  process.stderr.write(err.message + "\n");
  process.exit(1);
});
HELPER
  mv "$HELPER.tmp" "$HELPER"
}

helper() {
  REHOST_METADATA="$REHOST_METADATA" REHOST_RAM_ROLE="$REHOST_RAM_ROLE" REHOST_BUNDLE_URL="$REHOST_BUNDLE_URL" \
    REHOST_BUNDLE_BUCKET="$REHOST_BUNDLE_BUCKET" REHOST_BUNDLE_KEY="$REHOST_BUNDLE_KEY" REHOST_FETCH_TIMEOUT="$REHOST_FETCH_TIMEOUT" \
    REHOST_HEALTH_TIMEOUT="$REHOST_HEALTH_TIMEOUT" REHOST_TOKEN_FILE="$TOKEN_FILE" REHOST_AGENT_PORT="$REHOST_AGENT_PORT" \
    REHOST_AGENT_CERT="$STATE/tls/cert.pem" "$REHOST_NODE" "$HELPER" "$@"
}

bundle_sha256() {
  sha256sum "$1" | cut -d' ' -f1
}

fetch_bundle() {
  if [ -f "$BUNDLE_FILE" ] && [ "$(bundle_sha256 "$BUNDLE_FILE")" = "$REHOST_BUNDLE_SHA256" ]; then
    log "bundle already here: $BUNDLE_FILE"
    return 0
  fi
  log "fetching rehost $REHOST_VERSION from $REHOST_BUNDLE_URL${"$"}{REHOST_RAM_ROLE:+ as RAM role $REHOST_RAM_ROLE}"
  helper fetch "$BUNDLE_FILE" 2>>"$REHOST_LOG" || die "cannot fetch $REHOST_BUNDLE_URL (details above in $REHOST_LOG)"
}

verify_bundle() {
  local actual
  actual="$(bundle_sha256 "$BUNDLE_FILE")"
  if [ "$actual" != "$REHOST_BUNDLE_SHA256" ]; then
    rm -f "$BUNDLE_FILE"
    die "checksum mismatch: $REHOST_BUNDLE_URL has SHA-256 $actual, the stack deployed $REHOST_BUNDLE_SHA256; nothing installed, the agent is not started"
  fi
  log "checksum verified: SHA-256 $actual"
}

install_bundle() {
  if [ -f "$RELEASE/.installed" ]; then
    log "release already installed: $RELEASE"
    return 0
  fi
  rm -rf "$RELEASE.tmp"
  install -d -m 0755 "$RELEASE.tmp"
  tar -xzf "$BUNDLE_FILE" -C "$RELEASE.tmp" --no-same-owner
  [ -f "$RELEASE.tmp/package/bin/rehost.js" ] || die "the bundle holds no package/bin/rehost.js"
  touch "$RELEASE.tmp/.installed"
  rm -rf "$RELEASE"
  mv "$RELEASE.tmp" "$RELEASE"
  log "installed rehost $REHOST_VERSION in $RELEASE"
}

write_config() {
  install -d -m 0700 "$ETC" "$PSK_DIR" "$STATE"
  printf '%s' "$REHOST_TOKEN" >"$TOKEN_FILE.tmp"
  printf 'rehost:%s\n' "$REHOST_PSK" >"$PSK_DIR/$REHOST_PSK_FILE_NAME.tmp"
  chmod 0600 "$TOKEN_FILE.tmp" "$PSK_DIR/$REHOST_PSK_FILE_NAME.tmp"
  mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
  mv "$PSK_DIR/$REHOST_PSK_FILE_NAME.tmp" "$PSK_DIR/$REHOST_PSK_FILE_NAME"
}

agent_command() {
  printf '%s' "$REHOST_NODE $RELEASE/package/bin/rehost.js agent --state $STATE --listen 0.0.0.0:$REHOST_AGENT_PORT --token-file $TOKEN_FILE --credentials $PSK_DIR --allow $REHOST_ALLOW"
}

start_agent() {
  local command
  command="$(agent_command)"
  case "$REHOST_SUPERVISOR" in
    systemd)
      install -d -m 0755 "$(dirname "$UNIT")"
      cat >"$UNIT.tmp" <<UNIT
[Unit]
Description=rehost sync-gateway agent $REHOST_VERSION
After=network-online.target
[Service]
ExecStart=$command
Restart=always
RestartSec=5
[Install]
WantedBy=multi-user.target
UNIT
      if cmp -s "$UNIT.tmp" "$UNIT" && systemctl is-active --quiet rehost-agent; then
        rm -f "$UNIT.tmp"
        log "agent already running with this release"
      else
        mv "$UNIT.tmp" "$UNIT"
        systemctl daemon-reload
        systemctl enable rehost-agent >>"$REHOST_LOG" 2>&1
        systemctl restart rehost-agent
        log "agent started by systemd (rehost-agent.service)"
      fi
      ;;
    none)
      install -d -m 0755 "$(dirname "$PID_FILE")"
      if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        if [ "$(tr '\0' ' ' <"/proc/$(cat "$PID_FILE")/cmdline" | sed 's/ $//')" = "$command" ]; then
          log "agent already running with this release (pid $(cat "$PID_FILE"))"
          return 0
        fi
        log "stopping the agent of another release (pid $(cat "$PID_FILE"))"
        kill "$(cat "$PID_FILE")"
        sleep 1
      fi
      # shellcheck disable=SC2086
      setsid $command >>"$AGENT_LOG" 2>&1 </dev/null &
      printf '%s\n' "$!" >"$PID_FILE"
      log "agent started (pid $!)"
      ;;
    *) die "unknown supervisor $REHOST_SUPERVISOR" ;;
  esac
}

check_agent() {
  local answer
  if ! answer="$(helper health 2>>"$REHOST_LOG")"; then
    if [ "$REHOST_SUPERVISOR" = systemd ]; then die "the agent does not answer on port $REHOST_AGENT_PORT: see journalctl -u rehost-agent"; fi
    die "the agent does not answer on port $REHOST_AGENT_PORT: see $AGENT_LOG"
  fi
  log "$answer"
}

main() {
  install -d -m 0755 "$(dirname "$REHOST_LOG")"
  log "bootstrap of rehost $REHOST_VERSION started"
  install_runtime
  write_helper
  fetch_bundle
  verify_bundle
  install_bundle
  write_config
  start_agent
  check_agent
  log "bootstrap done"
}

main "$@"
`;
