/*
 * Native side of the CPU differential test: runs each test case on this machine's CPU in 32-bit
 * user mode and reports the architectural result.
 *
 * Protocol (little endian, see tests/cpu/diff/protocol.ts): stdin is a stream of fixed-size
 * `struct in_case`; stdout gets one variable-size `struct out_case` (plus its memory diffs) each.
 *
 * Every case ends in a signal: the code page is filled with INT3, so an instruction that falls
 * through or jumps somewhere inside the page traps (SIGTRAP, trapno 3, EIP after the INT3), and a
 * faulting instruction raises its own signal whose sigcontext carries the exception vector. The
 * handler runs on an alternate stack (the test's ESP points into the data area, which the kernel
 * must not write a frame into), records the register file from the sigcontext and siglongjmps back.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x00100000u
#define CODE_SIZE 0x1000u
#define DATA_ADDR 0x00102000u
#define DATA_SIZE 0x1000u
#define MAX_CODE 32
#define MAX_POKES 6
#define VEC_TIMEOUT 0xfe
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h; glibc's headers may lack it */
#endif

struct in_case {
  uint32_t regs[8]; /* EAX ECX EDX EBX ESP EBP ESI EDI */
  uint32_t eflags;
  uint32_t data_seed;
  uint16_t code_off;
  uint8_t code_len;
  uint8_t npokes;
  uint8_t code[MAX_CODE];
  struct { uint16_t off; uint16_t size; uint32_t val; } pokes[MAX_POKES];
};

struct out_case {
  uint32_t regs[8];
  uint32_t eflags;
  uint32_t eip;
  uint8_t vector;
  uint8_t pad;
  uint16_t ndiff;
};

_Static_assert(sizeof(struct in_case) == 124, "in_case layout");
_Static_assert(sizeof(struct out_case) == 44, "out_case layout");

/* Image consumed by enter_case: popfd, then popad (EDI ESI EBP skip EBX EDX ECX EAX). */
struct { uint32_t eflags, edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; } g_img;
uint32_t g_esp, g_target;

/* Never returns: the case always ends in a signal. */
void enter_case(void);
__asm__(
  ".text\n"
  ".globl enter_case\n"
  "enter_case:\n"
  "  movl $g_img, %esp\n"
  "  popfl\n"
  "  popal\n"
  "  movl g_esp, %esp\n"
  "  jmp *g_target\n");

static sigjmp_buf g_jmp;
static struct out_case g_out;
static volatile uint32_t g_case_no, g_watch_case = ~0u;
static volatile int g_in_case;

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  ucontext_t *uc = ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  if (sig == SIGALRM) {
    /* Watchdog: a case that spans two ticks is stuck (e.g. a loop the generator did not foresee). */
    if (!g_in_case || g_watch_case != g_case_no) { g_watch_case = g_case_no; return; }
    g_out.vector = VEC_TIMEOUT;
  } else {
    g_out.vector = (uint8_t)g[REG_TRAPNO];
  }
  g_out.regs[0] = g[REG_EAX]; g_out.regs[1] = g[REG_ECX]; g_out.regs[2] = g[REG_EDX]; g_out.regs[3] = g[REG_EBX];
  g_out.regs[4] = g[REG_ESP]; g_out.regs[5] = g[REG_EBP]; g_out.regs[6] = g[REG_ESI]; g_out.regs[7] = g[REG_EDI];
  g_out.eflags = g[REG_EFL];
  g_out.eip = g[REG_EIP];
  g_in_case = 0;
  siglongjmp(g_jmp, 1);
}

static void die(const char *what) { perror(what); exit(2); }

static void *map_fixed(uint32_t addr, uint32_t size) {
  void *p = mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || p != (void *)(uintptr_t)addr) die("mmap fixed");
  return p;
}

/* Must match fillData() in protocol.ts. */
static void fill_data(uint8_t *d, uint32_t seed) {
  uint32_t x = seed | 1;
  for (uint32_t i = 0; i < DATA_SIZE; i += 4) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    memcpy(d + i, &x, 4);
  }
}

static int read_full(void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, (char *)buf + got, n - got);
    if (r < 0) die("read");
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got == 0) return 0;
  if (got != n) { fprintf(stderr, "runner: truncated case\n"); exit(2); }
  return 1;
}

int main(void) {
  uint8_t *code = map_fixed(CODE_ADDR, CODE_SIZE);
  uint8_t *data = map_fixed(DATA_ADDR, DATA_SIZE);
  static uint8_t init[DATA_SIZE];
  static uint8_t altstack[1 << 16];

  /*
   * AUTODISARM: the kernel then switches to the alternate stack even when a test left ESP pointing
   * into it (it would otherwise think the handler nests and overflow the stack). Delivery disarms
   * the stack and we leave by siglongjmp, not sigreturn, so it is re-armed before every case.
   */
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = SS_AUTODISARM };
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  /* NODEFER: we leave the handler by siglongjmp without restoring the mask (no syscall per case). */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  int sigs[] = { SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM };
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL)) die("sigaction");
  struct itimerval it = { { 1, 0 }, { 1, 0 } };
  if (setitimer(ITIMER_REAL, &it, NULL)) die("setitimer");

  static char obuf[1 << 20];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);

  struct in_case c;
  while (read_full(&c, sizeof c)) {
    if (c.code_len > MAX_CODE || c.npokes > MAX_POKES || c.code_off + c.code_len > CODE_SIZE) {
      fprintf(stderr, "runner: bad case %u\n", g_case_no);
      exit(2);
    }
    memset(code, 0xcc, CODE_SIZE);
    memcpy(code + c.code_off, c.code, c.code_len);
    fill_data(init, c.data_seed);
    for (unsigned i = 0; i < c.npokes; i++) {
      if (c.pokes[i].off + c.pokes[i].size > DATA_SIZE || c.pokes[i].size > 4) { fprintf(stderr, "runner: bad poke\n"); exit(2); }
      memcpy(init + c.pokes[i].off, &c.pokes[i].val, c.pokes[i].size);
    }
    memcpy(data, init, DATA_SIZE);

    g_img.eax = c.regs[0]; g_img.ecx = c.regs[1]; g_img.edx = c.regs[2]; g_img.ebx = c.regs[3];
    g_esp = c.regs[4]; g_img.ebp = c.regs[5]; g_img.esi = c.regs[6]; g_img.edi = c.regs[7];
    /* Only the arithmetic flags and DF are the test's; IF stays set, TF/AC/ID stay clear. */
    g_img.eflags = (c.eflags & 0xcd5) | (c.eflags & 0x400) | 0x202;
    g_target = CODE_ADDR + c.code_off;
    memset(&g_out, 0, sizeof g_out);

    if (sigaltstack(&ss, NULL)) die("sigaltstack");
    if (sigsetjmp(g_jmp, 0) == 0) {
      g_in_case = 1;
      enter_case();
    }
    __asm__ volatile("cld" ::: "memory");

    uint16_t nd = 0;
    for (uint32_t i = 0; i < DATA_SIZE; i++) if (data[i] != init[i]) nd++;
    g_out.ndiff = nd;
    fwrite(&g_out, sizeof g_out, 1, stdout);
    for (uint32_t i = 0; i < DATA_SIZE; i++) {
      if (data[i] != init[i]) {
        uint8_t rec[4] = { (uint8_t)i, (uint8_t)(i >> 8), data[i], 0 };
        fwrite(rec, 4, 1, stdout);
      }
    }
    g_case_no++;
  }
  if (fflush(stdout)) die("write");
  return 0;
}
