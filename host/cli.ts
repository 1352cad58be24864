/**
 * `ts86`: boots the default guest (or a given kernel/ROM) with the serial console on the terminal.
 * QEMU-like options; `--run CMD` runs one command in the guest shell and exits with its status.
 */
import { readFileSync, statSync } from 'node:fs';
import { Machine, biosImageProblem, type MachineOptions } from './machine.js';
import { detectKernel } from '../firmware/index.js';
import { checkNetOptions, defaultNetOptions, parseHostfwd, parseNet, type NetOptions } from './net/options.js';
import { createNetBackend } from './net/index.js';

const HELP = `usage: ts86 [options]
       ts86 serve [--port N]   serve the browser page and the default guest (see ts86 serve --help)
       ts86 switch [--port N]  run a WebSocket Ethernet switch for guests (see ts86 switch --help)
  --kernel FILE        Linux bzImage, Linux PVH ELF kernel (vmlinux) or Multiboot kernel
                       (default: the default guest, built on first use)
  --initrd FILE        initrd for Linux; for Multiboot each --initrd 'FILE [ARGS]' becomes a module
  --append CMDLINE     kernel command line
  --bios FILE          64/128 KiB ROM started at the reset vector (no kernel)
  -m, --memory MIB     RAM size in MiB (default 128)
  --clock MODE         realtime (default) or virtual (deterministic)
  --timeout SECONDS    stop after this much guest time and exit with status 124
  --run COMMAND        boot, run COMMAND in the guest shell, print its output, exit with its status
  --no-default-devices leave out the PCI network card (virtio-net at 00:03.0)
  --device-model WHERE virtio-net data path: worker (default with the realtime clock) or inline;
                       --clock virtual runs it inline
  --virtio-notify HOW  queue kicks: mmio (default) or hypercall (VMCALL numbers listed in a
                       vendor PCI capability; MMIO notify keeps working)
  --debug WHAT         post: print POST codes written to port 0x80; virtio: print virtio-net
                       kick/interrupt/packet counts at exit (repeatable)
  --net user|ws://HOST:PORT  the network behind the card: the user-mode network (default; gateway
                       and host 10.0.2.2, DNS 10.0.2.3, DHCP) or a ts86 switch
  --hostfwd tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT  forward a host port (default address
                       127.0.0.1) to a guest port (default 10.0.2.15); repeatable
  --pcap FILE          capture every frame the guest sends and receives (pcap, for tcpdump/tshark)
  --mac XX:XX:XX:XX:XX:XX  the card's MAC address (default 52:54:00:12:34:56, as QEMU's first NIC);
                       give each guest on one switch its own
  -h, --help           this text
Console: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A.`;

export interface CliOptions {
  kernel?: string;
  initrd: string[];
  append?: string;
  bios?: string;
  memoryMiB: number;
  clock: 'realtime' | 'virtual';
  timeout?: number;
  run?: string;
  defaultDevices: boolean;
  debugPost: boolean;
  /** Network backend options, serialisable for the device-model worker (host/net/options.ts). */
  net: NetOptions;
  /** Where the virtio-net data path runs; undefined: the clock's default. */
  deviceModel?: 'worker' | 'inline';
  virtioNotify: 'mmio' | 'hypercall';
  debugVirtio: boolean;
  mac?: Uint8Array;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[]): CliOptions | 'help' {
  const o: CliOptions = { net: defaultNetOptions(), initrd: [], memoryMiB: 128, clock: 'realtime', defaultDevices: true, debugPost: false, virtioNotify: 'mmio', debugVirtio: false };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++k];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '--kernel': o.kernel = value(); break;
      case '--initrd': o.initrd.push(value()); break;
      case '--append': o.append = value(); break;
      case '--bios': o.bios = value(); break;
      case '-m': case '--memory': {
        const v = value();
        const n = Number(v.replace(/[mM]$/, ''));
        if (!Number.isInteger(n) || n < 2 || n > 2048) throw new UsageError(`--memory ${v}: give a whole number of MiB between 2 and 2048`);
        o.memoryMiB = n; break;
      }
      case '--clock': {
        const v = value();
        if (v !== 'realtime' && v !== 'virtual') throw new UsageError(`--clock ${v}: use realtime or virtual`);
        o.clock = v; break;
      }
      case '--timeout': {
        const v = value();
        const n = Number(v);
        if (!(n > 0)) throw new UsageError(`--timeout ${v}: give a positive number of seconds`);
        o.timeout = n; break;
      }
      case '--run': o.run = value(); break;
      case '--no-default-devices': o.defaultDevices = false; break;
      case '--debug': {
        const v = value();
        if (v === 'post') o.debugPost = true;
        else if (v === 'virtio') o.debugVirtio = true;
        else throw new UsageError(`--debug ${v}: use post or virtio`);
        break;
      }
      case '--device-model': {
        const v = value();
        if (v !== 'worker' && v !== 'inline') throw new UsageError(`--device-model ${v}: use worker or inline`);
        o.deviceModel = v; break;
      }
      case '--virtio-notify': {
        const v = value();
        if (v !== 'mmio' && v !== 'hypercall') throw new UsageError(`--virtio-notify ${v}: use mmio or hypercall`);
        o.virtioNotify = v; break;
      }
      case '--net': o.net.net = netOption(() => parseNet(value())); break;
      case '--hostfwd': o.net.hostfwd.push(netOption(() => parseHostfwd(value()))); break;
      case '--pcap': o.net.pcap = value(); break;
      case '--mac': o.mac = parseMac(value()); break;
      default: throw new UsageError(`unknown option ${a} (see ts86 --help)`);
    }
  }
  if (o.deviceModel === 'worker' && o.clock === 'virtual') throw new UsageError('--device-model worker needs --clock realtime (the virtual clock runs device models inline)');
  netOption(() => checkNetOptions(o.net));
  if (o.bios && o.kernel) throw new UsageError('--bios and --kernel exclude each other');
  if (o.bios && o.initrd.length) throw new UsageError('--initrd needs --kernel, not --bios');
  return o;
}

/** A unicast MAC address as six colon-separated hex octets. */
export function parseMac(v: string): Uint8Array {
  const parts = v.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new UsageError(`--mac ${v}: give six hex octets, e.g. 52:54:00:12:34:57`);
  const mac = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
  if (mac[0]! & 1) throw new UsageError(`--mac ${v}: a multicast address cannot be a card's own`);
  return mac;
}

/** Runs a host/net option parser, reporting its error as a usage error. */
function netOption<T>(parse: () => T): T {
  try { return parse(); } catch (e) { throw e instanceof UsageError ? e : new UsageError((e as Error).message); }
}

function readInput(path: string, what: string): Uint8Array {
  let st: ReturnType<typeof statSync>;
  try { st = statSync(path); } catch { throw new UsageError(`${what} ${path}: no such file`); }
  if (!st.isFile()) throw new UsageError(`${what} ${path}: not a regular file`);
  const size = st.size;
  if (size === 0) throw new UsageError(`${what} ${path}: the file is empty`);
  // A plain Uint8Array over the Buffer's memory, not a copy (copying the kernel and the initrd
  // cost ~4 ms of every start).
  let b: Buffer;
  try { b = readFileSync(path); } catch (e) { throw new UsageError(`${what} ${path}: ${(e as Error).message}`); }
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Builds the machine the options describe (the default guest is built on demand). */
export async function machineFromOptions(o: CliOptions, hooks: Pick<MachineOptions, 'onSerial' | 'onDebugcon' | 'onPost'>): Promise<Machine> {
  const mo: MachineOptions = { ...hooks, memoryMiB: o.memoryMiB, clock: o.clock, defaultDevices: o.defaultDevices };
  // The data path in a worker reaches guest RAM through a SharedArrayBuffer.
  const worker = o.defaultDevices && o.clock === 'realtime' && (o.deviceModel ?? 'worker') === 'worker';
  mo.sharedRam = worker;
  mo.virtioNet = { placement: worker ? 'remote' : 'inline', notify: o.virtioNotify, mac: o.mac };
  let append = o.append;
  if (o.bios) {
    mo.bios = readInput(o.bios, 'BIOS image');
    const problem = biosImageProblem(mo.bios);
    if (problem) throw new UsageError(`BIOS image ${o.bios}: ${problem}`);
  }
  else {
    let kernelPath = o.kernel, initrds = o.initrd;
    if (!kernelPath) {
      const { ensureGuest } = await import('../scripts/build-guest.mjs');
      const g = await ensureGuest({ quiet: false });
      kernelPath = g.kernel;
      initrds = [g.initrd];
    }
    mo.kernel = readInput(kernelPath!, 'kernel');
    let kind: string;
    try { kind = detectKernel(mo.kernel); } catch (e) { throw new UsageError(`kernel ${kernelPath}: ${(e as Error).message}`); }
    if (kind !== 'multiboot') {
      if (initrds.length > 1) throw new UsageError('a Linux kernel takes one --initrd');
      if (initrds.length) mo.initrd = readInput(initrds[0]!, 'initrd');
    } else {
      // As QEMU's -kernel/-initrd and GRUB do: the kernel's command line starts with its path (test
      // kernels take the first word as the program name), and "FILE ARGS" loads FILE as a module
      // whose command line is the whole string.
      mo.modules = initrds.map((spec) => ({ data: readInput(spec.split(' ')[0]!, 'initrd'), cmdline: spec }));
      append = `${kernelPath} ${append ?? ''}`;
    }
  }
  mo.cmdline = append;
  // An inline data path gets its network here, last, so no socket is left open by a usage error
  // above; a worker builds its own from o.net.
  if (o.defaultDevices && !worker) {
    try { mo.virtioNet.backend = await createNetBackend(o.net); } catch (e) { throw new UsageError((e as Error).message); }
  }
  try { return new Machine(mo); } catch (e) { mo.virtioNet.backend?.close(); throw new UsageError((e as Error).message); }
}

export { HELP };
