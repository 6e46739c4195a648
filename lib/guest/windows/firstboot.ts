/**
 * The first-boot script of an adapted Windows guest, in the virt-v2v "firstboot" pattern: a
 * Windows service, started at the first boot before anyone logs on, runs a command script that
 * runs the work (a PowerShell script, 2.0-compatible) and logs everything to a file, then deletes
 * itself. What it does, in order:
 *
 * 1. `pnputil` installs the staged virtio drivers (`%SystemRoot%\Drivers\VirtIO\*.inf`), so Plug
 *    and Play binds them properly and the virtio NIC gets `netkvm`;
 * 2. removes the ghost NICs VMware left (network devices no longer present whose hardware IDs
 *    are VMware's: vendor 15AD or subsystem vendor 15AD), through SetupAPI;
 * 3. for each NIC with secondary addresses in the plan: waits for its DHCP address (the pinned
 *    primary address the VPC's DHCP serves), then sets it static with that address, mask,
 *    gateway and DNS servers plus the secondary addresses (Windows does not mix DHCP and static
 *    IPv4 addresses on one adapter; this is what Alibaba Cloud documents for secondary IPs);
 * 4. uninstalls VMware Tools by its product code (`msiexec /x`).
 *
 * The log (`C:\Windows\Temp\rehost-firstboot.log`) has one line per step, `step NAME: ok|failed|skipped`,
 * and ends with `REHOST-FIRSTBOOT-DONE ok=N failed=M`, which is also written to every serial
 * port that can be opened (the ECS serial console). {@link parseFirstBootLog} reads it back for the
 * rehearsal sign-off. Pure functions: the script texts and the service's registry keys.
 */
import { dword, expandSz, sz, type RegKey } from "./registry";

/** Where the first-boot files live, relative to the system root (`/Windows` → `C:\Windows\rehost\firstboot`). */
export const FIRSTBOOT_DIR = "rehost/firstboot";
/** The log the rehearsal sign-off reads, as Windows names it. */
export const FIRSTBOOT_LOG = "C:\\Windows\\Temp\\rehost-firstboot.log";
/** The service that runs the script at the first boot. */
export const FIRSTBOOT_SERVICE = "rehost-firstboot";
/** The line that ends a complete run. */
export const FIRSTBOOT_DONE = "REHOST-FIRSTBOOT-DONE";

/** One NIC the script configures: the plan's primary address and the secondaries to add. */
export interface FirstBootNic {
  /** Position of the NIC (0 for `eth0`, the primary ENI). */
  readonly index: number;
  /** The planned primary address, which the VPC's DHCP serves; undefined when unknown. */
  readonly primary?: string;
  readonly secondary: ReadonlyArray<{ readonly address: string; readonly prefixLength: number }>;
}

/** What the first-boot script is asked to do. */
export interface FirstBootPlan {
  /** Windows major version: `pnputil /add-driver` from 10, `pnputil -i -a` before. */
  readonly major: number;
  readonly nics: readonly FirstBootNic[];
  /** Product codes (`{GUID}`) of the VMware Tools installations to remove. */
  readonly vmwareTools: readonly string[];
}

/**
 * How the service starts the script: a service wrapper (`rhsrvany.exe` or `pvvxsvc.exe`, the
 * programs virt-v2v uses, copied next to the script), or `cmd.exe` alone (it starts the script
 * detached and exits; the service manager records one failed service start).
 */
export type FirstBootLauncher = { readonly kind: "wrapper"; readonly exe: string } | { readonly kind: "cmd" };

/** The dotted mask of a prefix length. */
export function prefixToMask(prefixLength: number): string {
  const bits = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join(".");
}

const crlf = (lines: readonly string[]) => `${lines.join("\r\n")}\r\n`;
const psString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** `firstboot.cmd`: what the service runs. */
export function firstBootCmd(): string {
  return crlf([
    "@echo off",
    "rem Written by rehost: first boot on Alibaba Cloud ECS. Runs firstboot.ps1 and logs to the file below.",
    "setlocal",
    `set "LOG=%SystemRoot%\\Temp\\rehost-firstboot.log"`,
    `set "DIR=%SystemRoot%\\rehost\\firstboot"`,
    `echo %DATE% %TIME% rehost first boot: start >> "%LOG%"`,
    `"%SystemRoot%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%DIR%\\firstboot.ps1" >> "%LOG%" 2>&1`,
    `echo %DATE% %TIME% rehost first boot: powershell exit %ERRORLEVEL% >> "%LOG%"`,
    "endlocal",
  ]);
}

/** `firstboot.ps1`: the work. */
export function firstBootPs1(plan: FirstBootPlan): string {
  const nics = plan.nics.map(
    (n) =>
      `  @{ Index = ${n.index}; Primary = ${n.primary === undefined ? "$null" : psString(n.primary)}; Addresses = @(${n.secondary.map((s) => psString(s.address)).join(", ")}); Masks = @(${n.secondary.map((s) => psString(prefixToMask(s.prefixLength))).join(", ")}) }`,
  );
  const pnputil =
    plan.major >= 10
      ? `& "$env:SystemRoot\\System32\\pnputil.exe" /add-driver "$DriverDir\\*.inf" /install`
      : `& "$env:SystemRoot\\System32\\pnputil.exe" -i -a "$DriverDir\\*.inf"`;
  return crlf([
    "# Written by rehost: first boot on Alibaba Cloud ECS. Output goes to C:\\Windows\\Temp\\rehost-firstboot.log.",
    "$ErrorActionPreference = 'Continue'",
    '$DriverDir = "$env:SystemRoot\\Drivers\\VirtIO"',
    '$StateDir = "$env:SystemRoot\\rehost\\firstboot\\done"',
    `$Nics = @(`,
    nics.join(",\r\n"),
    `)`,
    `$VmwareTools = @(${plan.vmwareTools.map(psString).join(", ")})`,
    "$script:Ok = 0; $script:Failed = 0",
    "if (-not (Test-Path $StateDir)) { New-Item -ItemType Directory -Path $StateDir | Out-Null }",
    "function Log([string]$Message) { Write-Output ((Get-Date -Format 'yyyy-MM-ddTHH:mm:ss') + ' ' + $Message) }",
    "function Step([string]$Name, [scriptblock]$Body) {",
    "  $marker = Join-Path $StateDir $Name",
    '  if (Test-Path $marker) { Log "step ${Name}: skipped: done at an earlier boot"; $script:Ok++; return }',
    "  try {",
    "    $detail = & $Body",
    '    Log "step ${Name}: ok: $detail"; $script:Ok++',
    "    Set-Content -Path $marker -Value $detail",
    "  } catch {",
    '    Log "step ${Name}: failed: $($_.Exception.Message)"; $script:Failed++',
    "  }",
    "}",
    "",
    "Step 'pnputil' {",
    `  $out = ${pnputil} 2>&1`,
    "  $code = $LASTEXITCODE",
    '  $out | ForEach-Object { Log "  pnputil: $_" }',
    '  if ($code -ne 0 -and $code -ne 3010 -and $code -ne 259) { throw "pnputil exited with $code" }',
    '  "pnputil exit $code"',
    "}",
    "",
    "Step 'ghost-nics' {",
    "  Add-Type -TypeDefinition @'",
    "using System;",
    "using System.Collections.Generic;",
    "using System.Runtime.InteropServices;",
    "using System.Text;",
    "using System.Text.RegularExpressions;",
    "public static class RehostGhostNics {",
    "  [StructLayout(LayoutKind.Sequential)]",
    "  public struct SP_DEVINFO_DATA { public int cbSize; public Guid ClassGuid; public int DevInst; public IntPtr Reserved; }",
    '  [DllImport("setupapi.dll", SetLastError = true)] static extern IntPtr SetupDiGetClassDevs(ref Guid classGuid, IntPtr enumerator, IntPtr parent, int flags);',
    '  [DllImport("setupapi.dll", SetLastError = true)] static extern bool SetupDiEnumDeviceInfo(IntPtr set, int index, ref SP_DEVINFO_DATA data);',
    '  [DllImport("setupapi.dll", SetLastError = true, CharSet = CharSet.Unicode)] static extern bool SetupDiGetDeviceRegistryProperty(IntPtr set, ref SP_DEVINFO_DATA data, int property, out int type, byte[] buffer, int size, out int required);',
    '  [DllImport("setupapi.dll", SetLastError = true)] static extern bool SetupDiCallClassInstaller(int function, IntPtr set, ref SP_DEVINFO_DATA data);',
    '  [DllImport("setupapi.dll")] static extern bool SetupDiDestroyDeviceInfoList(IntPtr set);',
    '  [DllImport("cfgmgr32.dll")] static extern int CM_Get_DevNode_Status(out int status, out int problem, int devInst, int flags);',
    "  static string Property(IntPtr set, SP_DEVINFO_DATA d, int property) {",
    "    int type, required; byte[] buffer = new byte[4096];",
    '    if (!SetupDiGetDeviceRegistryProperty(set, ref d, property, out type, buffer, buffer.Length, out required)) return "";',
    "    return Encoding.Unicode.GetString(buffer, 0, Math.Min(buffer.Length, Math.Max(0, required))).TrimEnd('\\0').Replace('\\0', ';');",
    "  }",
    "  public static List<string> Remove() {",
    "    List<string> result = new List<string>();",
    '    Guid net = new Guid("4d36e972-e325-11ce-bfc1-08002be10318");',
    "    IntPtr set = SetupDiGetClassDevs(ref net, IntPtr.Zero, IntPtr.Zero, 0);",
    "    if (set == new IntPtr(-1)) throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());",
    "    try {",
    "      for (int i = 0; ; i++) {",
    "        SP_DEVINFO_DATA d = new SP_DEVINFO_DATA(); d.cbSize = Marshal.SizeOf(d);",
    "        if (!SetupDiEnumDeviceInfo(set, i, ref d)) break;",
    "        int status, problem;",
    "        if (CM_Get_DevNode_Status(out status, out problem, d.DevInst, 0) != 13) continue; // present (13: CR_NO_SUCH_DEVINST)",
    "        string ids = Property(set, d, 1); // SPDRP_HARDWAREID",
    '        if (!Regex.IsMatch(ids, "VEN_15AD|SUBSYS_[0-9A-Fa-f]{4}15AD")) continue;',
    "        string name = Property(set, d, 0); // SPDRP_DEVICEDESC",
    "        bool removed = SetupDiCallClassInstaller(5, set, ref d); // DIF_REMOVE",
    '        result.Add((removed ? "removed " : "could not remove ") + name + " (" + ids + ")");',
    "      }",
    "    } finally { SetupDiDestroyDeviceInfoList(set); }",
    "    return result;",
    "  }",
    "}",
    "'@",
    "  $removed = [RehostGhostNics]::Remove()",
    '  $removed | ForEach-Object { Log "  ghost NIC: $_" }',
    "  if (@($removed | Where-Object { $_ -like 'could not*' }).Count -gt 0) { throw 'a ghost NIC could not be removed' }",
    '  "$(@($removed).Count) VMware NICs removed"',
    "}",
    "",
    "function VirtioAdapters {",
    "  @(Get-WmiObject Win32_NetworkAdapter | Where-Object { $_.PNPDeviceID -like 'PCI\\VEN_1AF4&DEV_1000*' -or $_.PNPDeviceID -like 'PCI\\VEN_1AF4&DEV_1041*' } | Sort-Object PNPDeviceID)",
    "}",
    "foreach ($nic in $Nics) {",
    "  if ($nic.Addresses.Count -eq 0) { continue }",
    '  Step ("secondary-addresses-eth" + $nic.Index) {',
    "    $deadline = (Get-Date).AddMinutes(5); $config = $null",
    "    while ((Get-Date) -lt $deadline) {",
    "      $adapters = VirtioAdapters",
    "      foreach ($a in $adapters) {",
    '        $c = Get-WmiObject Win32_NetworkAdapterConfiguration -Filter "Index=$($a.Index)"',
    "        $v4 = @($c.IPAddress | Where-Object { $_ -match '^\\d+\\.\\d+\\.\\d+\\.\\d+$' -and $_ -notlike '169.254.*' })",
    "        if ($nic.Primary -ne $null) { if ($v4 -contains $nic.Primary) { $config = $c } }",
    "        elseif ($adapters.Count -gt $nic.Index -and $adapters[$nic.Index].Index -eq $a.Index -and $v4.Count -gt 0) { $config = $c }",
    "      }",
    "      if ($config -ne $null) { break }",
    "      Start-Sleep -Seconds 5",
    "    }",
    '    if ($config -eq $null) { throw ("no virtio NIC got " + $(if ($nic.Primary -ne $null) { $nic.Primary } else { \'an address\' }) + " from DHCP within 5 minutes") }',
    "    $i = [array]::IndexOf(@($config.IPAddress), $(if ($nic.Primary -ne $null) { $nic.Primary } else { @($config.IPAddress | Where-Object { $_ -match '^\\d+\\.\\d+\\.\\d+\\.\\d+$' })[0] }))",
    "    $ip = @($config.IPAddress)[$i]; $mask = @($config.IPSubnet)[$i]",
    "    $gateways = @($config.DefaultIPGateway); $dns = @($config.DNSServerSearchOrder)",
    "    $r = $config.EnableStatic([string[]](@($ip) + $nic.Addresses), [string[]](@($mask) + $nic.Masks))",
    '    if ($r.ReturnValue -ne 0 -and $r.ReturnValue -ne 1) { throw "EnableStatic returned $($r.ReturnValue)" }',
    "    if ($gateways.Count -gt 0 -and $gateways[0] -ne $null) { $null = $config.SetGateways([string[]]$gateways, [uint16[]](@(1) * $gateways.Count)) }",
    "    if ($dns.Count -gt 0 -and $dns[0] -ne $null) { $null = $config.SetDNSServerSearchOrder([string[]]$dns) }",
    "    \"$($config.Description): $ip/$mask static (from DHCP), gateway $($gateways -join ','), DNS $($dns -join ','), added $($nic.Addresses -join ', ')\"",
    "  }",
    "}",
    "",
    "foreach ($code in $VmwareTools) {",
    "  Step (\"vmware-tools-\" + $code.Trim('{}')) {",
    '    $log = "$env:SystemRoot\\Temp\\rehost-vmware-tools-uninstall.log"',
    "    $p = Start-Process -FilePath \"$env:SystemRoot\\System32\\msiexec.exe\" -ArgumentList @('/x', $code, '/qn', '/norestart', 'REBOOT=ReallySuppress', '/l*v', $log) -Wait -PassThru",
    '    if ($p.ExitCode -ne 0 -and $p.ExitCode -ne 3010 -and $p.ExitCode -ne 1605) { throw "msiexec /x $code exited with $($p.ExitCode) (log: $log)" }',
    '    "msiexec /x $code exit $($p.ExitCode)"',
    "  }",
    "}",
    "",
    '$summary = "' + FIRSTBOOT_DONE + ' ok=$script:Ok failed=$script:Failed"',
    "Log $summary",
    "foreach ($port in [System.IO.Ports.SerialPort]::GetPortNames()) {",
    "  try { $s = New-Object System.IO.Ports.SerialPort $port, 115200; $s.Open(); $s.WriteLine($summary); $s.Close() } catch { }",
    "}",
    "$attempts = Join-Path $StateDir 'attempts'",
    "$n = 1; if (Test-Path $attempts) { $n = [int](Get-Content $attempts) + 1 }; Set-Content -Path $attempts -Value $n",
    `if ($script:Failed -eq 0 -or $n -ge 3) { & "$env:SystemRoot\\System32\\sc.exe" delete ${FIRSTBOOT_SERVICE} | Out-Null; Log 'first-boot service removed' }`,
    'else { Log "the failed steps run again at the next boot (attempt $n of 3)" }',
  ]);
}

/**
 * The registry keys (SYSTEM hive, relative to one control set) of the service that runs
 * `firstboot.cmd` at the first boot.
 */
export function firstBootServiceKeys(controlSet: string, launcher: FirstBootLauncher): RegKey[] {
  const service = `${controlSet}\\Services\\${FIRSTBOOT_SERVICE}`;
  const script = "%SystemRoot%\\rehost\\firstboot\\firstboot.cmd";
  const common = {
    Type: dword(0x10),
    Start: dword(2),
    ObjectName: sz("LocalSystem"),
    DisplayName: sz("rehost first boot"),
    Description: sz(
      "Finishes the move to Alibaba Cloud ECS (drivers, addresses, VMware Tools) once, then removes itself. Log: C:\\Windows\\Temp\\rehost-firstboot.log",
    ),
  };
  if (launcher.kind === "wrapper") {
    return [
      {
        path: service,
        values: { ...common, ErrorControl: dword(1), ImagePath: expandSz(`%SystemRoot%\\rehost\\firstboot\\${launcher.exe} -s ${FIRSTBOOT_SERVICE}`) },
      },
      { path: `${service}\\Parameters`, values: { CommandLine: sz(`cmd /c "${script}"`), PWD: sz("%SystemRoot%\\rehost\\firstboot") } },
    ];
  }
  // cmd.exe does not speak the service protocol: it starts the script detached and exits at once,
  // the service manager logs that the service did not start (ErrorControl 0: nothing else happens).
  return [
    {
      path: service,
      values: {
        ...common,
        ErrorControl: dword(0),
        ImagePath: expandSz(`%SystemRoot%\\System32\\cmd.exe /c start "rehost-firstboot" /b %SystemRoot%\\System32\\cmd.exe /c ${script}`),
      },
    },
  ];
}

/** What a first-boot log says. */
export interface FirstBootLog {
  readonly steps: ReadonlyArray<{ readonly name: string; readonly result: "ok" | "failed" | "skipped"; readonly detail: string }>;
  /** True when the run ended (`REHOST-FIRSTBOOT-DONE`). */
  readonly done: boolean;
  /** True when the run ended and no step failed. */
  readonly ok: boolean;
}

/** Reads `C:\Windows\Temp\rehost-firstboot.log` (all boots; the last result of each step counts). */
export function parseFirstBootLog(text: string): FirstBootLog {
  const last = new Map<string, { name: string; result: "ok" | "failed" | "skipped"; detail: string }>();
  let done = false;
  let failed = -1;
  for (const line of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const step = /\bstep ([\w-]+): (ok|failed|skipped): ?(.*)$/.exec(line);
    if (step) last.set(step[1]!, { name: step[1]!, result: step[2] as "ok" | "failed" | "skipped", detail: step[3]! });
    const end = new RegExp(`${FIRSTBOOT_DONE} ok=(\\d+) failed=(\\d+)`).exec(line);
    if (end) {
      done = true;
      failed = Number(end[2]);
    }
  }
  const steps = [...last.values()];
  return { steps, done, ok: done && failed === 0 && steps.every((s) => s.result !== "failed") };
}
