// Installs the Debian packages a command needs when they are missing, with progress on screen.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** Checks that tell whether a package is usable, by package name. */
const CHECKS = {
  nasm: () => has('nasm', ['-v']),
  'gcc-multilib': () => {
    const r = spawnSync('sh', ['-c', 'echo "int main(void){return 0;}" | gcc -m32 -x c -o /dev/null -'], { stdio: 'ignore' });
    return r.status === 0;
  },
  'qemu-system-x86': () => has('qemu-system-i386'),
  seabios: () => spawnSync('test', ['-f', '/usr/share/seabios/bios.bin']).status === 0,
};

export function ensurePackages(packages, why) {
  const missing = packages.filter((p) => !(CHECKS[p] ? CHECKS[p]() : spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status === 0));
  if (missing.length === 0) return;
  if (!has('apt-get')) {
    console.error(`ts86: ${why} needs the Debian packages ${missing.join(' ')}, and apt-get is not available; install them and retry`);
    process.exit(1);
  }
  const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
  console.error(`ts86: installing ${missing.join(' ')} (${why})...`);
  const run = (args) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  // A partly failed update (one mirror's index out of sync) may still leave what we need installable.
  try { run(['apt-get', 'update', '-q']); } catch { console.error("ts86: 'apt-get update' failed; trying the install anyway"); }
  try {
    run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing]);
  } catch {
    console.error(`ts86: could not install ${missing.join(' ')}; install them with apt-get and retry`);
    process.exit(1);
  }
}
