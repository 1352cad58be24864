/* Runs x87 instructions on the real CPU for the differential tests (32-bit build: gcc -m32).
 *
 * stdin:  u32 count, then count records:
 *           u8 codeLen, u8 code[15]   one instruction; a memory operand is addressed as [esi] (ModRM rm=6, mod=0)
 *           u32 eflags, u32 eax       loaded before the instruction (FCMOVcc, FNSTSW AX)
 *           u16 memLen, u8 state[108] FRSTOR image (32-bit protected-mode layout) loaded first
 *           u8 mem[memLen]            the memory operand, [esi] points at it (16-byte aligned)
 * stdout: u32 insnAddr, u32 memAddr, u16 cs, u16 ds, then per record:
 *           u8 fault (0 none, 1 SIGFPE, 2 SIGILL, 3 SIGSEGV), u8 state[108] (FNSAVE right after the
 *           instruction), u32 eflags, u32 eax, u8 mem[memLen]
 * FNSAVE does not wait, so an instruction that leaves an unmasked exception pending is observed
 * without a #MF; a pending exception in the loaded image makes the instruction itself fault. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint8_t stateIn[108] __attribute__((aligned(16)));
static uint8_t stateOut[108] __attribute__((aligned(16)));
static uint8_t mem[512] __attribute__((aligned(16)));
static uint32_t eaxOut, flagsOut;
static sigjmp_buf env;
static volatile int fault;

static void onSignal(int sig) {
  fault = sig == SIGFPE ? 1 : sig == SIGILL ? 2 : 3;
  siglongjmp(env, 1);
}

static void readAll(void *p, size_t n) {
  if (fread(p, 1, n, stdin) != n) { fprintf(stderr, "x87run: short input\n"); exit(1); }
}

static uint8_t *emit32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); return p + 4; }

int main(void) {
  uint8_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) { perror("mmap"); return 1; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = onSignal;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGFPE, &sa, 0); sigaction(SIGILL, &sa, 0); sigaction(SIGSEGV, &sa, 0);

  /* stub: push callee-saved; mov esi,mem; frstor [stateIn]; push flags; popfd; mov eax,imm;
   *       <insn>; mov [eaxOut],eax; pushfd; pop [flagsOut]; fnsave [stateOut]; pop; ret */
  uint8_t *p = code;
  *p++ = 0x53; *p++ = 0x56; *p++ = 0x57; *p++ = 0x55;
  *p++ = 0xBE; p = emit32(p, (uint32_t)mem);
  *p++ = 0xDD; *p++ = 0x25; p = emit32(p, (uint32_t)stateIn);
  *p++ = 0x68; uint8_t *flagsImm = p; p += 4;
  *p++ = 0x9D;
  *p++ = 0xB8; uint8_t *eaxImm = p; p += 4;
  uint8_t *insn = p;
  uint16_t cs, ds;
  __asm__ volatile("mov %%cs, %0; mov %%ds, %1" : "=r"(cs), "=r"(ds));

  uint32_t count;
  readAll(&count, 4);
  uint32_t hdr[3] = { (uint32_t)insn, (uint32_t)mem, (uint32_t)cs | (uint32_t)ds << 16 };
  fwrite(hdr, 4, 3, stdout);
  for (uint32_t i = 0; i < count; i++) {
    uint8_t len, bytes[15];
    uint32_t fl, ax;
    uint16_t memLen;
    readAll(&len, 1); readAll(bytes, 15); readAll(&fl, 4); readAll(&ax, 4); readAll(&memLen, 2);
    readAll(stateIn, 108);
    if (memLen > sizeof mem) { fprintf(stderr, "x87run: memLen\n"); return 1; }
    readAll(mem, memLen);
    memcpy(flagsImm, &fl, 4); memcpy(eaxImm, &ax, 4);
    uint8_t *q = insn;
    memcpy(q, bytes, len); q += len;
    *q++ = 0xA3; q = emit32(q, (uint32_t)&eaxOut);
    *q++ = 0x9C; *q++ = 0x8F; *q++ = 0x05; q = emit32(q, (uint32_t)&flagsOut);
    *q++ = 0xDD; *q++ = 0x35; q = emit32(q, (uint32_t)stateOut);
    *q++ = 0x5D; *q++ = 0x5F; *q++ = 0x5E; *q++ = 0x5B; *q++ = 0xC3;
    fault = 0;
    memset(stateOut, 0, sizeof stateOut);
    eaxOut = flagsOut = 0;
    if (sigsetjmp(env, 1) == 0) ((void (*)(void))code)();
    uint8_t f = (uint8_t)fault;
    fwrite(&f, 1, 1, stdout); fwrite(stateOut, 1, 108, stdout);
    fwrite(&flagsOut, 4, 1, stdout); fwrite(&eaxOut, 4, 1, stdout); fwrite(mem, 1, memLen, stdout);
  }
  return 0;
}
