/*
 * /init of the ts86 default guest: mounts /proc, /sys and /dev, names the host, configures the
 * network (lo; eth0 at 10.0.2.15/24 behind the host's 10.0.2.2, DNS at 10.0.2.3, when the card is
 * there), prints the ready line and becomes the busybox shell loop on the console.
 *
 * Why C and not a shell script: the script it replaces ran busybox as /init, then a fork and an
 * exec of the 2 MiB busybox for `mount -a` and each of four `ip` commands. Those took 2.2 M of the
 * boot's 15.4 M guest instructions and ~140 ms of its ~1 s (scripts/profile-boot.mjs, and boots
 * alternated with the ready line moved to the top of the script). The same work here is a few
 * system calls.
 *
 * Freestanding i386 (no libc: `gcc -m32 -static -nostdlib`), so it builds with the compiler that
 * builds the kernel. A step that fails prints why and the boot goes on, as the script did.
 */

typedef unsigned int u32;
typedef unsigned short u16;

enum {
  SYS_write = 4, SYS_open = 5, SYS_close = 6, SYS_execve = 11, SYS_mount = 21,
  SYS_ioctl = 54, SYS_sethostname = 74, SYS_pause = 29, SYS_socket = 359,
};
enum { AF_INET = 2, SOCK_DGRAM = 2, O_WRONLY = 1, O_CREAT = 0x40, O_TRUNC = 0x200 };
enum {
  SIOCADDRT = 0x890b, SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, SIOCSIFADDR = 0x8916,
  SIOCSIFNETMASK = 0x891c, IFF_UP = 1, RTF_UP = 1, RTF_GATEWAY = 2,
};

static long sys(long n, long a, long b, long c, long d, long e) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return r;
}

/* gcc may turn structure clearing into a call to memset. */
void *memset(void *p, int v, unsigned n) {
  unsigned char *s = p;
  while (n--) *s++ = (unsigned char)v;
  return p;
}

static unsigned len(const char *s) { unsigned n = 0; while (s[n]) n++; return n; }
static void say(const char *s) { sys(SYS_write, 1, (long)s, len(s), 0, 0); }
static void fail(const char *what, long err) {
  char num[12]; int i = 11;
  num[i] = 0;
  err = -err;
  do { num[--i] = (char)('0' + err % 10); err /= 10; } while (err && i > 0);
  say("init: "); say(what); say(" failed: error "); say(num + i); say("\n");
}
static long check(const char *what, long r) { if (r < 0) fail(what, r); return r; }

struct sockaddr_in { u16 family, port; u32 addr; unsigned char zero[8]; };
struct ifreq { char name[16]; union { struct sockaddr_in addr; short flags; unsigned char pad[16]; } u; };
/* struct rtentry of the i386 ABI. */
struct rtentry {
  u32 pad1; struct sockaddr_in dst, gateway, genmask; u16 flags; short pad2; u32 pad3; void *pad4;
  short metric; char *dev; u32 mtu, window; u16 irtt;
};

/* 10.0.2.15 as it sits in memory (network order) is ip(10, 0, 2, 15). */
static u32 ip(u32 a, u32 b, u32 c, u32 d) { return a | b << 8 | c << 16 | d << 24; }

static void ifname(struct ifreq *r, const char *name) {
  memset(r, 0, sizeof *r);
  for (unsigned i = 0; name[i] && i < 15; i++) r->name[i] = name[i];
}

/* Sets IFF_UP; returns < 0 when the interface does not exist. */
static long link_up(int s, const char *name) {
  struct ifreq r;
  ifname(&r, name);
  long e = sys(SYS_ioctl, s, SIOCGIFFLAGS, (long)&r, 0, 0);
  if (e < 0) return e;
  r.u.flags |= IFF_UP;
  return check("bringing an interface up", sys(SYS_ioctl, s, SIOCSIFFLAGS, (long)&r, 0, 0));
}

/* SIOCSIFADDR or SIOCSIFNETMASK on eth0. */
static void set_eth0(int s, long req, u32 a, const char *what) {
  struct ifreq r;
  ifname(&r, "eth0");
  r.u.addr.family = AF_INET;
  r.u.addr.addr = a;
  check(what, sys(SYS_ioctl, s, req, (long)&r, 0, 0));
}

static void network(void) {
  int s = (int)check("socket", sys(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0));
  if (s < 0) return;
  link_up(s, "lo");
  struct ifreq probe;
  ifname(&probe, "eth0");
  if (sys(SYS_ioctl, s, SIOCGIFFLAGS, (long)&probe, 0, 0) >= 0) {
    set_eth0(s, SIOCSIFADDR, ip(10, 0, 2, 15), "setting eth0's address");
    set_eth0(s, SIOCSIFNETMASK, ip(255, 255, 255, 0), "setting eth0's netmask");
    link_up(s, "eth0");
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    rt.dst.family = rt.genmask.family = rt.gateway.family = AF_INET;
    rt.gateway.addr = ip(10, 0, 2, 2);
    rt.flags = RTF_UP | RTF_GATEWAY;
    check("adding the default route", sys(SYS_ioctl, s, SIOCADDRT, (long)&rt, 0, 0));
    static const char resolv[] = "nameserver 10.0.2.3\n";
    int f = (int)check("writing /etc/resolv.conf", sys(SYS_open, (long)"/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC, 0644, 0, 0));
    if (f >= 0) { sys(SYS_write, f, (long)resolv, sizeof resolv - 1, 0, 0); sys(SYS_close, f, 0, 0, 0, 0); }
  }
  sys(SYS_close, s, 0, 0, 0, 0);
}

static char *shell_env[64];

__attribute__((used)) static void init_main(long *sp) {
  long argc = sp[0];
  char **envp = (char **)(sp + 1 + argc + 1);
  check("mounting /proc", sys(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0));
  check("mounting /sys", sys(SYS_mount, (long)"sysfs", (long)"/sys", (long)"sysfs", 0, 0));
  check("mounting /dev", sys(SYS_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0));
  check("setting the host name", sys(SYS_sethostname, (long)"ts86", 4, 0, 0, 0));
  network();
  say("ts86-guest: ready\n");

  /* The kernel's environment for init (TERM and the like), with our PATH and HOME. */
  unsigned n = 0;
  shell_env[n++] = "PATH=/bin:/sbin:/usr/bin:/usr/sbin";
  shell_env[n++] = "HOME=/root";
  for (char **e = envp; *e && n < 63; e++) {
    const char *v = *e;
    if ((v[0] == 'P' && v[1] == 'A' && v[2] == 'T' && v[3] == 'H' && v[4] == '=') || (v[0] == 'H' && v[1] == 'O' && v[2] == 'M' && v[3] == 'E' && v[4] == '=')) continue;
    shell_env[n++] = *e;
  }
  shell_env[n] = 0;
  /* setsid + cttyhack give each shell ttyS0 as controlling tty, so job control and ^C work; the
     loop starts a new one when it exits. */
  static char *argv[] = { "sh", "-c", "while true; do setsid cttyhack sh -l; done", 0 };
  check("starting the shell", sys(SYS_execve, (long)"/bin/busybox", (long)argv, (long)shell_env, 0, 0));
  for (;;) sys(SYS_pause, 0, 0, 0, 0, 0);
}

__asm__(".globl _start\n_start:\n\txor %ebp, %ebp\n\tmov %esp, %eax\n\tand $-16, %esp\n\tsub $12, %esp\n\tpush %eax\n\tcall init_main\n\thlt\n");
