// Hypercall channels driven by guest code (nasm) on the real CPU: VMCALL with the assigned number
// signals the channel with EBX/ECX/EDX/ESI and returns 0; KVM's numbers keep their meaning
// (Documentation/virt/kvm/x86/hypercalls.rst) and unknown ones return -KVM_ENOSYS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { ChannelSpace, LocalEventChannel, SharedEventChannel, WaitSet } from '../../channels/event-channel.js';
import { HypercallChannel } from '../../channels/hypercall.js';
import { CPU, Reg } from '../../cpu/index.js';
import { HYPERCALL_DYNAMIC_BASE, KVM_ENOSYS, KvmParavirt } from '../../devices/kvm-paravirt.js';

const dir = mkdtempSync(join(tmpdir(), 'ts86-hc-'));
let seq = 0;
/** Run `body` (32-bit flat, ring 0) to HLT; returns the CPU. */
function run(cpu: CPU, mem: PhysicalMemory, body: string): void {
  const n = seq++;
  const src = join(dir, `t${n}.asm`), out = join(dir, `t${n}.bin`);
  writeFileSync(src, `bits 32\norg 0x1000\n${body}\nhlt\n`);
  execFileSync('nasm', ['-f', 'bin', '-o', out, src]);
  mem.writeBytes(0x1000, new Uint8Array(readFileSync(out)));
  cpu.loadFlat32();
  cpu.eip = 0x1000;
  cpu.regs[Reg.ESP] = 0x8000;
  for (let i = 0; i < 1000 && !cpu.halted; i++) cpu.run(64);
  assert.ok(cpu.halted);
}

function machine() {
  const mem = new PhysicalMemory(0x100000);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual', { nsPerInstruction: 1, tscHz: 1e9 }) });
  const kvm = new KvmParavirt(cpu, mem, cpu.clock, { wallClockEpochNs: 0n });
  return { mem, cpu, kvm };
}

test('VMCALL with the assigned number signals the channel, stores the arguments, returns 0', () => {
  const { mem, cpu, kvm } = machine();
  const ch = new LocalEventChannel();
  const seen: number[][] = [];
  const hc = new HypercallChannel(kvm, ch, 'test-kick');
  ch.onSignal = () => { ch.read(); seen.push([...hc.args]); };
  assert.ok(hc.nr >= HYPERCALL_DYNAMIC_BASE);
  run(cpu, mem, `
    mov eax, ${hc.nr}
    mov ebx, 7
    mov ecx, 0x80000001
    mov edx, 3
    mov esi, 0xdeadbeef
    vmcall
    mov edi, eax
    mov eax, ${hc.nr}
    mov ebx, 8
    vmcall`);
  assert.is(cpu.regs[Reg.EDI], 0);
  assert.is(cpu.regs[Reg.EAX], 0);
  assert.equal(seen, [[7, 0x80000001, 3, 0xdeadbeef], [8, 0x80000001, 3, 0xdeadbeef]]);
  assert.is(hc.calls, 2);
});

test('KVM numbers keep their meaning, unknown and closed numbers return -KVM_ENOSYS, nothing is signalled', () => {
  const { mem, cpu, kvm } = machine();
  const ch = new LocalEventChannel();
  const hc = new HypercallChannel(kvm, ch, 'test');
  run(cpu, mem, `
    mov eax, 1           ; KVM_HC_VAPIC_POLL_IRQ
    vmcall
    mov edi, eax
    mov eax, ${hc.nr + 1}
    vmcall
    mov ebp, eax
    mov eax, 5           ; KVM_HC_KICK_CPU is not implemented
    vmcall`);
  assert.is(cpu.regs[Reg.EDI], 0);
  assert.is(cpu.regs[Reg.EBP], -KVM_ENOSYS);
  assert.is(cpu.regs[Reg.EAX], -KVM_ENOSYS);
  assert.is(ch.pending, false);
  hc.close();
  run(cpu, mem, `mov eax, ${hc.nr}\nvmcall`);
  assert.is(cpu.regs[Reg.EAX], -KVM_ENOSYS);
  assert.is(ch.pending, false);
});

test('shared hypercall channel: the descriptor gives another thread the channel and the arguments', () => {
  const { mem, cpu, kvm } = machine();
  const hc = new HypercallChannel(kvm, new ChannelSpace(2).alloc(), 'q0');
  const d = structuredClone(hc.descriptor);
  const ch = SharedEventChannel.from(d.channel);
  const args = new Uint32Array(d.args);
  run(cpu, mem, `mov eax, ${d.nr}\nmov ebx, 1\nmov ecx, 2\nmov edx, 3\nmov esi, 4\nvmcall`);
  assert.is(new WaitSet([ch]).wait(0), true);
  assert.is(ch.read(), 1);
  assert.equal([...args], [1, 2, 3, 4]);
  assert.throws(() => new HypercallChannel(kvm, new LocalEventChannel(), 'x').descriptor, TypeError);
});

test.run();
