// The guest build's check of the kernel configuration (scripts/build-guest.mjs) against the
// fragment scripts/guest/ts86.config: an option olddefconfig dropped, one the kernel's Kconfig does
// not define, a required option left out. Run on the real fragment and a small Kconfig tree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configProblems, kconfigSymbols } from '../../scripts/build-guest.mjs';

const fragment = readFileSync(new URL('../../scripts/guest/ts86.config', import.meta.url), 'utf8');
const options = [...fragment.matchAll(/^(?:# )?CONFIG_(\w+)/gm)].map((m) => m[1]!);
const symbols = new Set(options);

test('the fragment against a .config that has every option as asked: no problems', () => {
  assert.equal(configProblems(fragment, fragment, symbols), []);
});

test('an option olddefconfig dropped, one the kernel does not define, a required one left out', () => {
  assert.equal(configProblems(fragment.replace('CONFIG_PVH=y\n', ''), fragment, symbols), ['CONFIG_PVH: wanted y, .config has n']);
  assert.equal(configProblems(fragment, `${fragment}# CONFIG_X86_SMAP is not set\n`, symbols), ["CONFIG_X86_SMAP: no such option in this kernel's Kconfig"]);
  const noPci = fragment.replace('CONFIG_PCI=y\n', '');
  assert.equal(configProblems(noPci, noPci, symbols), ['CONFIG_PCI=y missing from the fragment']);
});

test('Kconfig symbols: config and menuconfig entries of every Kconfig file in the tree', () => {
  const tree = mkdtempSync(join(tmpdir(), 'ts86-kconfig-'));
  mkdirSync(join(tree, 'arch', 'x86'), { recursive: true });
  writeFileSync(join(tree, 'Kconfig'), 'mainmenu "x"\nconfig PRINTK\n\tbool "printk"\nmenuconfig NET\n\tbool\n');
  writeFileSync(join(tree, 'arch', 'x86', 'Kconfig.debug'), 'config EARLY_PRINTK\n  bool\nif NET\nendif\n');
  writeFileSync(join(tree, 'arch', 'x86', 'Makefile'), 'config NOT_A_KCONFIG\n');
  const found = kconfigSymbols(tree);
  rmSync(tree, { recursive: true, force: true });
  assert.ok(found.has('PRINTK') && found.has('NET') && found.has('EARLY_PRINTK'));
  assert.not.ok(found.has('NOT_A_KCONFIG'), 'only Kconfig files are read');
});

test.run();
