/** `ts86 switch`: options, start-up line, and a clean stop on Ctrl-C. */
import { EthernetSwitch } from './switch.js';
import { UserNetwork } from './user-network.js';
import { nodeProvider } from './node-provider.js';
import { parseHostfwd } from './options.js';
import { parseIpv4 } from './packet.js';
import type { HostForward } from './tcp.js';

export const SWITCH_HELP = `usage: ts86 switch [options]
  --port N           WebSocket port to listen on (default 8086)
  --listen ADDR      address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --nat              put the user-mode network on the switch: gateway 10.0.2.2 with DHCP,
                     DNS 10.0.2.3 and outbound TCP/UDP through this host's sockets
  --hostfwd SPEC     with --nat: tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (repeatable)
  -h, --help         this text
Guests join with: ts86 --net ws://HOST:PORT (a v86 guest: relay_url "ws://HOST:PORT/").`;

export interface SwitchArgs { port: number; listen: string; nat: boolean; hostfwd: HostForward[] }

export function parseSwitchArgs(argv: string[]): SwitchArgs | 'help' {
  const o: SwitchArgs = { port: 8086, listen: '127.0.0.1', nat: false, hostfwd: [] };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++k];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '--port': {
        const v = value(), n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--port ${v}: give a port number 0-65535`);
        o.port = n; break;
      }
      case '--listen': {
        const v = value();
        if (parseIpv4(v) < 0) throw new Error(`--listen ${v}: give an IPv4 address`);
        o.listen = v; break;
      }
      case '--nat': o.nat = true; break;
      case '--hostfwd': o.hostfwd.push(parseHostfwd(value())); break;
      default: throw new Error(`unknown switch option ${a} (see ts86 switch --help)`);
    }
  }
  if (o.hostfwd.length && !o.nat) throw new Error('--hostfwd needs --nat');
  return o;
}

export async function runSwitch(argv: string[]): Promise<number> {
  let o: SwitchArgs | 'help';
  try { o = parseSwitchArgs(argv); } catch (e) { console.error(`ts86: ${(e as Error).message}`); return 2; }
  if (o === 'help') { console.log(SWITCH_HELP); return 0; }
  let nat: UserNetwork | undefined;
  let sw: EthernetSwitch;
  try {
    if (o.nat) {
      nat = new UserNetwork({ provider: nodeProvider, log: (l) => console.error(l) });
      await nat.start(o.hostfwd);
    }
    sw = await EthernetSwitch.start({ port: o.port, host: o.listen, nat });
  } catch (e) {
    nat?.close();
    console.error(`ts86: ${(e as Error).message}`);
    return 1;
  }
  console.error(`ts86 switch: listening on ws://${o.listen}:${sw.port}/${nat ? ' with the user-mode network (gateway 10.0.2.2, DHCP, DNS 10.0.2.3)' : ''}; Ctrl-C stops`);
  await new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sw.close();
  return 0;
}
