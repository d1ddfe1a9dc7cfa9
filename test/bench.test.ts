// The benchmark's pure parts: medians and per-round ratios, the JSON shape,
// the tables, the SVG, fio's output, and the refusal to run in a directory
// that has content. No timings are asserted anywhere.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { clientsGroup, prepareClient, runClients, span } from '../bench/clients';
import { parseFioOutput, fioArgs, type FioJob } from '../bench/fio';
import { FULL, passthroughHpArgs, prepareWorkspace, QUICK, resolveProfile, runBench, serverArgs } from '../bench/index';
import { passthroughHpProblem, readStats } from '../bench/mounts';
import { clientsTable, toJson, toMarkdown, toText, type Report } from '../bench/report';
import { median, pairedRatio, rotation, speedup, summarize, type Sample } from '../bench/stats';
import { domain, logTicks, toSvg } from '../bench/svg';
import { checkTargets } from '../bench/targets';
import { buildGroups, filePaths, randomPages, scaled, warmOnly, type Target } from '../bench/workloads';
import { benchOptions } from '../src/cli/commands/bench';
import { resolveOptions } from '../src/cli/options';
import { tempDir } from './helpers/tmp';

const sample = (workload: string, config: string, round: number, seconds: number, bytes = 0, ops = 0): Sample =>
  ({ workload, config, round, seconds, bytes, ops });

t.test('median', async (t) => {
  t.equal(median([3]), 3);
  t.equal(median([5, 1, 3]), 3, 'odd count: the middle value');
  t.equal(median([4, 1, 3, 2]), 2.5, 'even count: the mean of the two middle values');
  const input = [3, 1, 2];
  median(input);
  t.same(input, [3, 1, 2], 'the input is not reordered');
  t.throws(() => median([]), RangeError);
});

t.test('ratios are taken round by round, then the median', async (t) => {
  // Round 1 is slow for both: per-round ratios are 2, 2, 2, while the ratio of the medians is 3/1.
  const samples = [
    sample('w', 'native', 0, 1), sample('w', 'fuse', 0, 2),
    sample('w', 'native', 1, 10), sample('w', 'fuse', 1, 20),
    sample('w', 'native', 2, 1.5), sample('w', 'fuse', 2, 3),
  ];
  t.equal(pairedRatio(samples, 'w', 'fuse', 'native'), 2);
  const fuse = summarize(samples, ['native', 'fuse']).find((r) => r.config === 'fuse');
  t.equal(fuse?.seconds, 3, 'seconds: the median of the rounds');
  t.equal(fuse?.ratioToNative, 2, 'ratio: the median of the per-round ratios, not 3/1.5');
  t.equal(pairedRatio([sample('w', 'fuse', 0, 1), sample('w', 'native', 1, 1)], 'w', 'fuse', 'native'), null,
    'no round with both: no ratio');
  t.equal(pairedRatio([sample('w', 'fuse', 0, 4), sample('w', 'native', 0, 2), sample('w', 'fuse', 1, 9)], 'w', 'fuse', 'native'), 2,
    'a round only one configuration finished is left out');
});

t.test('summarize: order, native ratio, MiB/s and µs per op', async (t) => {
  const samples = [
    sample('b', 'fuse', 0, 2, 4 * 2 ** 20, 1000),
    sample('a', 'native', 0, 1),
    sample('b', 'native', 0, 1, 4 * 2 ** 20, 1000),
    sample('a', 'passthrough', 0, 1.5),
  ];
  const results = summarize(samples, ['native', 'fuse', 'passthrough']);
  t.same(results.map((r) => `${r.workload}/${r.config}`), ['b/native', 'b/fuse', 'a/native', 'a/passthrough'],
    'workloads in the order first measured, configurations in the given order');
  const bNative = results.find((r) => r.workload === 'b' && r.config === 'native');
  t.equal(bNative?.ratioToNative, 1);
  t.equal(bNative?.mibPerSec, 4);
  t.equal(bNative?.usPerOp, 1000);
  t.notOk('mibPerSec' in results.find((r) => r.workload === 'a')!, 'no MiB/s without bytes');
  t.same(summarize([sample('a', 'native', 0, 1), sample('a', 'native', 2, 3), sample('b', 'native', 1, 2)], ['native'])[0].perRound,
    [1, null, 3], 'seconds per round, null where a round is missing');
  t.same(summarize([sample('a', 'fuse', 0, 1)], ['native', 'fuse'])[0].ratioToNative, null, 'no native: ratio null');
});

t.test('rotation', async (t) => {
  t.same(rotation(['n', 'f', 'p'], 0), ['n', 'f', 'p']);
  t.same(rotation(['n', 'f', 'p'], 1), ['f', 'p', 'n']);
  t.same(rotation(['n', 'f', 'p'], 5), ['p', 'n', 'f']);
  t.same(rotation([], 3), []);
});

function fakeReport(): Report {
  const configs = ['native', 'fuse', 'passthrough'];
  const samples: Sample[] = [];
  const factor: Record<string, number> = { native: 1, fuse: 8, passthrough: 1.02 };
  for (const [w, bytes, ops] of [['4k.write', 100 * 2 ** 20, 25000], ['10m.read_cold', 1000 * 2 ** 20, 100], ['meta.stat', 0, 25000], ['dd.write', 2000 * 2 ** 20, 0]] as const) {
    for (let round = 0; round < 3; round++) {
      for (const c of configs) samples.push(sample(w, c, round, (1 + round / 10) * factor[c], bytes, ops));
    }
  }
  const results = summarize(samples, configs);
  return {
    configs,
    results,
    environment: {
      dir: '/tmp/x <&>', fstype: 'ext4', source: '/dev/vda', kernel: '6.18', node: 'v20', cpus: 2, memoryGiB: 24,
      scale: 1, rounds: 3, dropCaches: 'yes', fio: null, date: '2025-01-01T00:00:00.000Z', command: 'tsfuse bench --json',
    },
    steps: [
      { workload: '4k.write', cold: false, bytes: 0, ops: 25000, op: 'file', describe: 'write files' },
      { workload: 'meta.stat', cold: false, bytes: 0, ops: 25000, op: 'file', describe: 'stat files' },
      { workload: '10m.read_cold', cold: true, bytes: 0, ops: 100, op: 'file', describe: 'read files' },
      { workload: 'dd.write', cold: false, bytes: 0, ops: 0, describe: 'dd' },
    ],
    warnings: ['the servers may open 20000 files'],
    skipped: [{ workload: 'fio.*', reason: 'fio is not installed (Debian package fio)' }],
    failures: [{ workload: 'meta.stat', config: 'fuse', round: 3, error: 'EMFILE' }],
    targets: checkTargets(samples, results),
    requests: { fuse: { READ: 10, WRITE: 0 } },
    counters: {},
  };
}

t.test('the JSON document', async (t) => {
  const doc = JSON.parse(toJson(fakeReport())) as Record<string, unknown>;
  t.same(doc.configs, ['native', 'fuse', 'passthrough']);
  t.same(Object.keys(doc).slice(0, 2), ['configs', 'results'], 'configs and results come first');
  const results = doc.results as Record<string, unknown>[];
  t.equal(results.length, 4 * 3, 'one result per (workload, config)');
  for (const r of results) {
    t.type(r.workload, 'string');
    t.ok(['native', 'fuse', 'passthrough'].includes(r.config as string));
    t.type(r.seconds, 'number');
    t.type(r.ratioToNative, 'number');
  }
  const pt = results.find((r) => r.workload === '10m.read_cold' && r.config === 'passthrough');
  t.equal(Math.round((pt?.ratioToNative as number) * 100), 102);
  t.match(doc, { skipped: [{ workload: 'fio.*' }], environment: { fstype: 'ext4', scale: 1 } });
});

t.test('text and Markdown tables', async (t) => {
  const report = fakeReport();
  const text = toText(report);
  for (const w of ['4k.write', '10m.read_cold', 'meta.stat', 'dd.write']) t.match(text, w);
  t.match(text, /8\.00x/, 'the fuse ratio');
  t.match(text, /skipped fio\.\*: fio is not installed/, 'says fio was skipped');
  t.match(text, /FAILED meta\.stat on fuse \(round 4\): EMFILE/);
  t.match(text, /warning: the servers may open 20000 files/);
  t.match(text, /MISSED fuse 4k\.read|met +passthrough 10m\.read_cold within 5%/);
  t.match(text, /µs/);
  const md = toMarkdown(report);
  const tables = md.split('\n\n').filter((block) => block.trimStart().startsWith('|') || block.includes('\n|'));
  t.ok(tables.length >= 2, 'a main table and a per-operation table');
  for (const block of tables) {
    const rows = block.split('\n').filter((l) => l.startsWith('|'));
    const cells = rows.map((r) => r.replace(/\\\|/g, '').split('|').length);
    t.ok(cells.every((n) => n === cells[0]), 'every row has as many cells as the header');
  }
  t.match(md, '| workload | native s | native MiB/s | fuse s | fuse MiB/s | fuse x native |');
  t.match(md, 'Command: `tsfuse bench --json`');
});

/** A small XML well-formedness check: balanced tags, quoted attributes, escaped text, one root. */
function wellFormed(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  const attr = /\s+([A-Za-z_:][\w:.-]*)="([^"]*)"/gy;
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  for (const token of xml.match(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<[^>]*>|[^<]+|</g) ?? []) {
    if (token.startsWith('<!--') || token.startsWith('<?')) continue;
    if (token.startsWith('</')) {
      const name = /^<\/([A-Za-z_:][\w:.-]*)\s*>$/.exec(token)?.[1];
      if (name === undefined || stack.pop() !== name) problems.push(`unbalanced ${token}`);
      continue;
    }
    if (token.startsWith('<')) {
      const m = /^<([A-Za-z_:][\w:.-]*)/.exec(token);
      if (!m) {
        problems.push(`bad tag ${token}`);
        continue;
      }
      const body = token.slice(m[0].length).replace(/\/?>$/, '');
      attr.lastIndex = 0;
      let end = 0;
      const names = new Set<string>();
      for (let a; (a = attr.exec(body)) !== null; end = attr.lastIndex) {
        if (names.has(a[1])) problems.push(`duplicate attribute ${a[1]}`);
        names.add(a[1]);
        if (/[<&]/.test(a[2].replace(entity, ''))) problems.push(`unescaped attribute ${a[1]}`);
      }
      if (body.slice(end).trim() !== '') problems.push(`bad attributes in ${token}`);
      if (stack.length === 0) roots++;
      if (!token.endsWith('/>')) stack.push(m[1]);
      continue;
    }
    if (token === '<' || /&/.test(token.replace(entity, ''))) problems.push(`unescaped text ${JSON.stringify(token)}`);
    else if (stack.length === 0 && token.trim() !== '') problems.push('text outside the root');
  }
  if (stack.length) problems.push(`unclosed ${stack.join(', ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

t.test('the well-formedness check itself can fail', async (t) => {
  t.same(wellFormed('<a x="1"><b/>t &amp; u</a>'), []);
  t.not(wellFormed('<a><b></a>').length, 0);
  t.not(wellFormed('<a x=1></a>').length, 0);
  t.not(wellFormed('<a>x & y</a>').length, 0);
  t.not(wellFormed('<a/><b/>').length, 0);
});

t.test('the SVG chart', async (t) => {
  const report = fakeReport();
  const svg = toSvg(report);
  t.same(wellFormed(svg), [], 'well-formed XML');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const bars = [...svg.matchAll(/<rect class="bar" data-workload="([^"]*)" data-config="([^"]*)"/g)].map((m) => `${m[1]}/${m[2]}`);
  const expected = report.results.map((r) => `${r.workload}/${r.config}`);
  t.same(bars.sort(), expected.sort(), 'one bar per (workload, config)');
  t.match(svg, '8.00x', 'bars are labelled with their ratio');
  t.notMatch(svg, '/tmp/x <&>', 'text is escaped');
});

t.test('log axis', async (t) => {
  t.same(domain([1, 1.02]), [0.5, 5]);
  const [lo, hi] = domain([0.8, 37]);
  t.ok(lo <= 0.8 && hi >= 37);
  t.same(logTicks(0.5, 50), [0.5, 1, 2, 5, 10, 20, 50]);
});

t.test('targets', async (t) => {
  const report = fakeReport();
  const byWhat = (s: string) => report.targets.find((c) => c.what.startsWith(s));
  t.equal(byWhat('passthrough 10m.read_cold within 5%')?.met, true, '1.02x is within 5%');
  t.equal(byWhat('passthrough dd.write within 5%')?.met, true);
  t.equal(byWhat('passthrough 10m.read_cold ≥ 2x')?.met, true, 'fuse/passthrough = 8/1.02');
  t.equal(byWhat('fuse 4k.write')?.met, true, '8x ≤ 16x');
  t.notOk(report.targets.some((c) => c.what.includes('1m.')), 'unmeasured targets are left out');
  t.notOk(byWhat('fuse 4k.write')?.note, 'a tmpfs run compares with the tmpfs reference as it is');
  const onExt4 = checkTargets([], report.results, 'ext4').find((c) => c.what.startsWith('fuse 4k.write'));
  t.match(onExt4?.note, /tmpfs.*ext4/, 'on another filesystem the comparison says so');
  const slow = checkTargets([sample('dd.read', 'native', 0, 1), sample('dd.read', 'passthrough', 0, 1.2)],
    summarize([sample('dd.read', 'native', 0, 1), sample('dd.read', 'passthrough', 0, 1.2)], ['native', 'passthrough']));
  t.equal(slow[0].met, false, '1.2x is a miss');
});

t.test('targets against passthrough_hp measured in the same run', async (t) => {
  const factor: Record<string, number> = { native: 1, fuse: 20, passthrough: 9, passthrough_hp: 10 };
  const configs = Object.keys(factor);
  const samples: Sample[] = [];
  for (const w of ['4k.write', '4k.read_warm']) {
    for (let round = 0; round < 3; round++) {
      for (const c of configs) samples.push(sample(w, c, round, (1 + round) * factor[c], 2 ** 20, 100));
    }
  }
  const checks = checkTargets(samples, summarize(samples, configs), 'ext4');
  const byWhat = (s: string) => checks.find((c) => c.what.startsWith(s));
  t.match(byWhat('passthrough 4k.write'), { what: /passthrough_hp in this run/, value: 9, goal: '≤ 10.0x', met: true }, '9x ≤ passthrough_hp\'s 10x');
  t.match(byWhat('passthrough 4k.write')?.note, /passthrough s \/ passthrough_hp s: 0\.90x/, 'with the direct ratio');
  t.equal(byWhat('fuse 4k.read_warm')?.met, false, '20x is worse than passthrough_hp\'s 10x');
  t.notOk(checks.some((c) => /~1[26]x/.test(c.what)), 'no fixed reference when passthrough_hp ran');
  t.notOk(checks.some((c) => c.note?.includes('tmpfs')), 'nor the other-filesystem caveat: same filesystem, same run');
  t.notOk(checks.some((c) => c.what.includes('4k.read_cold')), 'unmeasured workloads are left out');
});

t.test('the SVG and the tables with passthrough_hp', async (t) => {
  const base = fakeReport();
  const configs = [...base.configs, 'passthrough_hp'];
  const extra = base.results.filter((r) => r.config === 'passthrough').map((r) => ({ ...r, config: 'passthrough_hp' }));
  const r: Report = { ...base, configs, results: [...base.results, ...extra], environment: { ...base.environment, passthroughHp: '/opt/passthrough_hp' } };
  t.match(toSvg(r), /data-config="passthrough_hp"[^>]*fill="#188038"/, 'a bar of its own colour');
  t.match(toText(r), /passthrough_hp: \/opt\/passthrough_hp \(libfuse/, 'the header names the binary');
  t.match(toMarkdown(r), /\| passthrough_hp s \|/, 'a column group in the Markdown table');
  t.same((JSON.parse(toJson(r)) as { configs: string[] }).configs, ['native', 'fuse', 'passthrough', 'passthrough_hp']);
});

t.test('--passthrough-hp: parsed from the command line or TSFUSE_PASSTHROUGH_HP, a missing binary refused', async (t) => {
  t.equal(resolveOptions(benchOptions, { cli: {}, env: {}, cwd: '/' }).passthroughHp, undefined, 'off by default');
  t.equal(resolveOptions(benchOptions, { cli: { passthroughHp: 'b/passthrough_hp' }, env: {}, cwd: '/x' }).passthroughHp, '/x/b/passthrough_hp');
  t.equal(resolveOptions(benchOptions, { cli: {}, env: { TSFUSE_PASSTHROUGH_HP: '/opt/hp' }, cwd: '/' }).passthroughHp, '/opt/hp');

  const base = tempDir(t, 'tsfuse-bench-hp-');
  const missing = path.join(base, 'nope', 'passthrough_hp');
  t.match(passthroughHpProblem(missing), /no such file/);
  t.match(passthroughHpProblem(base), /not a file/);
  const plain = path.join(base, 'plain');
  fs.writeFileSync(plain, '', { mode: 0o644 });
  t.match(passthroughHpProblem(plain), /not executable/);
  const exe = path.join(base, 'exe');
  fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
  t.equal(passthroughHpProblem(exe), undefined, 'an executable file is accepted');

  const dir = path.join(base, 'run');
  await t.rejects(
    runBench({ dir, scale: 0.001, rounds: 1, json: true, force: false, configs: ['native'], workloads: ['4k'], command: 'test', passthroughHp: missing },
      { out: () => t.fail('nothing is reported'), err: () => undefined, errIsTTY: false }),
    { name: 'BenchError', message: /--passthrough-hp .*no such file.*bench\/README\.md/ },
    'refused before anything is made or mounted',
  );
  t.notOk(fs.existsSync(dir), 'no directory was made');
});

t.test('fio: arguments and output', async (t) => {
  const job: FioJob = { workload: 'fio.rand_read', rw: 'randread', bs: '4k', sizeMiB: 64, ioMiB: 8, cold: false };
  const args = fioArgs(job, '/m/f');
  t.ok(args.includes('--invalidate=0'), 'fio does not drop only the mount\'s cache');
  t.ok(args.includes('--output-format=json'));
  t.notOk(args.includes('--end_fsync=1'), 'reads do not fsync');
  t.ok(fioArgs({ ...job, rw: 'write' }, '/m/f').includes('--end_fsync=1'));
  const out = 'note: both iodepth >= 1 and synchronous I/O engine are selected\n' + JSON.stringify({
    jobs: [{ error: 0, read: { io_bytes: 8388608, bw_bytes: 83886080, runtime: 100 }, write: { io_bytes: 0, bw_bytes: 0, runtime: 0 } }],
  });
  t.same(parseFioOutput(out, 'randread'), { seconds: 0.1, bytes: 8388608 });
  t.throws(() => parseFioOutput(out, 'randwrite'), /no data/);
  t.throws(() => parseFioOutput('fio: error', 'read'), /no JSON/);
});

t.test('workload helpers', async (t) => {
  t.equal(scaled(25_000, 0.001), 25);
  t.equal(scaled(100, 0.001), 1, 'never below the minimum');
  const { dirs, files } = filePaths('/r', 2500);
  t.equal(dirs.length, 3);
  t.equal(files.length, 2500);
  t.equal(files[1000], '/r/d001/f001000');
  t.equal(new Set(files).size, 2500);
  const a = randomPages(1000, 262144);
  t.same(a, randomPages(1000, 262144), 'the same offsets every time');
  t.ok(a.every((p) => p < 262144));
  t.ok(new Set(a).size > 990, 'spread over the file');
});

t.test('a directory with content is refused unless --force', async (t) => {
  const base = tempDir(t, 'tsfuse-bench-test-');
  const full = path.join(base, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'keep.txt'), 'mine');

  t.throws(() => prepareWorkspace(full, false), { name: 'BenchError', message: /not empty .*--force/ });
  await t.rejects(
    runBench({ dir: full, scale: 0.001, rounds: 1, json: true, force: false, configs: ['native'], workloads: ['4k'], command: 'test' },
      { out: () => t.fail('nothing is reported'), err: () => undefined, errIsTTY: false }),
    { name: 'BenchError' },
    'runBench refuses before doing anything',
  );
  t.same(fs.readdirSync(full), ['keep.txt'], 'nothing was written');

  const forced = prepareWorkspace(full, true);
  t.equal(path.dirname(forced.root), full, '--force works in a new subdirectory');
  fs.writeFileSync(path.join(forced.root, 'x'), '');
  forced.remove();
  t.same(fs.readdirSync(full), ['keep.txt'], 'and removes only that');

  const empty = path.join(base, 'empty');
  fs.mkdirSync(empty);
  const e = prepareWorkspace(empty, false);
  t.equal(e.root, empty, 'an empty directory is used as it is');
  fs.mkdirSync(path.join(empty, 'native'));
  e.remove();
  t.ok(fs.existsSync(empty), 'and kept');
  t.same(fs.readdirSync(empty), [], 'emptied again');

  const fresh = path.join(base, 'new', 'dir');
  const n = prepareWorkspace(fresh, false);
  t.ok(fs.statSync(n.root).isDirectory(), 'a missing directory is created');
  n.remove();
  t.notOk(fs.existsSync(fresh), 'and removed');

  const file = path.join(base, 'file');
  fs.writeFileSync(file, '');
  t.throws(() => prepareWorkspace(file, true), /not a directory/);
});

t.test('targets appear only in a report that has them', async (t) => {
  const { targets, ...rest } = fakeReport();
  t.ok(targets?.length, 'the fake run measured targets');
  const without: Report = rest;
  t.notMatch(toText(without), /targets|MISSED|met /i);
  t.notMatch(toMarkdown(without), /Targets/);
  t.notOk('targets' in (JSON.parse(toJson(without)) as object), 'no targets key in the JSON');
  t.match(toText(fakeReport()), /^targets:\n  (met|MISSED) /m, 'with them: the section');
});

t.test('counters that are not opcodes are shown apart from the requests', async (t) => {
  const r: Report = { ...fakeReport(), requests: { passthrough: { OPEN: 7, RELEASE: 7 } }, counters: { passthrough: { 'backing ids registered': 7 } } };
  const text = toText(r);
  const requests = /requests the servers saw[^\n]*\n((?: {2}[^\n]*\n)+)/.exec(text)?.[1] ?? '';
  t.match(requests, /passthrough: OPEN 7, RELEASE 7/);
  t.notMatch(requests, /backing/, 'no counter among the opcodes');
  t.match(text, /^other counters of the servers \(not requests\):\n {2}passthrough: backing ids registered 7$/m);
  t.match(toMarkdown(r), /Other counters of the servers \(not requests\):\n\n- passthrough: backing ids registered 7/);
  t.same((JSON.parse(toJson(r)) as { counters: unknown }).counters, { passthrough: { 'backing ids registered': 7 } });
  t.notMatch(toText({ ...r, counters: {} }), /other counters/, 'no section without counters');
});

t.test('stats files: server.ts writes requests and counters apart, tsfuse mount the opcodes alone', async (t) => {
  t.same(readStats('{"requests": {"OPEN": 3}, "counters": {"backing ids registered": 3}}'),
    { requests: { OPEN: 3 }, counters: { 'backing ids registered': 3 } });
  t.same(readStats('{"LOOKUP": 2, "OPEN": 1}'), { requests: { LOOKUP: 2, OPEN: 1 }, counters: {} });
});

t.test('--quick and the full run: the profile, and what the user gave over it', async (t) => {
  t.same(resolveProfile(false, {}), FULL);
  t.same(resolveProfile(true, {}), QUICK);
  t.ok(QUICK.scale < FULL.scale && QUICK.rounds >= 2, 'smaller, yet still more than one round to take medians of');
  t.same(resolveProfile(true, { rounds: 5 }), { ...QUICK, rounds: 5 }, 'an option given wins over --quick');
  t.same(resolveProfile(false, { scale: 0.5, clients: [2] }), { ...FULL, scale: 0.5, clients: [2] });
});

t.test('timeouts: passed to every tsfuse server; passthrough_hp has 86400 or, with both at 0, --nocache', async (t) => {
  t.same(serverArgs({}), ['--entry-timeout=1', '--attr-timeout=1', '--threads=1'], "the CLI's defaults");
  t.same(serverArgs({ entryTimeout: 86400, attrTimeout: 0.5, threads: 2 }), ['--entry-timeout=86400', '--attr-timeout=0.5', '--threads=2']);
  t.same(passthroughHpArgs({ entryTimeout: 86400, attrTimeout: 86400 }), { args: [], timeout: 86400 });
  t.same(passthroughHpArgs({ entryTimeout: 0, attrTimeout: 0 }), { args: ['--nocache'], timeout: 0 });
  t.same(passthroughHpArgs({ entryTimeout: 0, attrTimeout: 1 }), { args: [], timeout: 86400 }, 'it has no setting for mixed timeouts');
});

t.test('warmOnly drops the cold steps and keeps the rest runnable', async (t) => {
  const [group] = buildGroups({ scale: 0.001, only: ['4k'], fio: null });
  t.ok(group.steps.some((s) => s.cold), 'the 4k group has a cold step');
  const warm = warmOnly(group);
  t.same(warm.steps.map((s) => s.workload), group.steps.filter((s) => !s.cold).map((s) => s.workload));
  const dir = tempDir(t, 'tsfuse-bench-warm-');
  const run = warm.start({ config: 'native', dir, backing: dir } as Target);
  t.same(run.steps.map((s) => s.cold), run.steps.map(() => false));
  run.setup();
  for (const step of run.steps) await step.run();
  run.cleanup();
  t.same(fs.readdirSync(dir), [], 'ran through and cleaned up');
});

t.test('span: first start to last end of the clients, refusing what is not their output', async (t) => {
  t.same(span(['ready\n1000000000 3000000000\n', 'ready\n1500000000 2500000000\n'], 10), { seconds: 2, ops: 10 });
  t.throws(() => span(['ready\n'], 1), /expected "ready" and its times/, 'a client that never reported');
  t.throws(() => span(['ready\n5 5\n'], 1), /no time/);
});

t.test('the clients table: ops/s, over native and over passthrough_hp, by phase then P', async (t) => {
  const configs = ['native', 'passthrough', 'passthrough_hp'];
  const seconds: Record<string, number> = { native: 0.1, passthrough: 2, passthrough_hp: 1 };
  const samples: Sample[] = [];
  for (const p of [4, 1]) {
    for (const phase of ['create', 'stat']) {
      for (const round of [0, 1]) for (const c of configs) samples.push(sample(`p${p}.${phase}`, c, round, seconds[c] * (round + 1), 0, 1000));
    }
  }
  const group = (p: number) => clientsGroup(p, 1000, 4096, { argv: ['/bin/false'], describe: 'x' }).steps;
  const r: Report = { ...fakeReport(), configs, results: summarize(samples, configs), steps: [...group(4), ...group(1)] };
  const table = clientsTable(r);
  t.same(table.head[1], ['workload', 'P', 'ops/s', 'ops/s', '/ native', '/ hp', 'ops/s', '/ native']);
  t.same(table.rows.map((row) => row.slice(0, 2)),
    [['create+write+close', '1'], ['create+write+close', '4'], ['stat', '1'], ['stat', '4']], 'phase, then P');
  // Median seconds over rounds 1x and 2x: 1.5x; the ratios are the same in both rounds.
  t.same(table.rows[0].slice(2), ['6,667', '333', '0.05', '0.50', '667', '0.10'], 'ops/s of the median seconds; ratios of rounds');
  const text = toText(r);
  t.match(text, /concurrent clients, P processes at once/);
  t.notMatch(text.split('concurrent clients, P')[0], /p1\.create/, 'not in the main table');
  const hpResult = r.results.find((x) => x.workload === 'p1.create' && x.config === 'passthrough_hp')!;
  const ptResult = r.results.find((x) => x.workload === 'p1.create' && x.config === 'passthrough')!;
  t.equal(speedup(ptResult, hpResult), 0.5, 'passthrough at half passthrough_hp\'s ops/s');
});

for (const kind of ['c', 'node'] as const) {
  t.test(`the ${kind} client: creates, reads and stats its files, all clients at once, and says what failed`, async (t) => {
    const base = tempDir(t, `tsfuse-bench-client-${kind}-`);
    let client;
    try {
      client = prepareClient(kind, base);
    } catch (err) {
      if (kind === 'c' && !fs.existsSync('/usr/bin/cc')) return t.skip('no cc');
      throw err;
    }
    const dirs = [path.join(base, 'a'), path.join(base, 'b')];
    for (const d of dirs) fs.mkdirSync(d);
    const made = await runClients(client, 'create', dirs, 30, 4096);
    t.equal(made.ops, 60);
    t.ok((made.seconds ?? 0) > 0, 'a time');
    for (const d of dirs) {
      t.equal(fs.readdirSync(d).length, 30, `${path.basename(d)}: 30 files`);
      t.equal(fs.statSync(path.join(d, 'f29')).size, 4096, '4 KiB each');
    }
    t.equal((await runClients(client, 'read', dirs, 30, 4096)).ops, 60);
    t.equal((await runClients(client, 'stat', dirs, 30, 4096)).ops, 60);
    fs.unlinkSync(path.join(dirs[1], 'f7'));
    await t.rejects(runClients(client, 'read', dirs, 30, 4096), { message: /client 2 of 2 \(read\): .*b\/f7: No such file|ENOENT.*b\/f7/ },
      'a missing file fails the step, naming it');
    fs.writeFileSync(path.join(dirs[1], 'f7'), Buffer.alloc(4096));
    fs.rmSync(dirs[0], { recursive: true });
    await t.rejects(runClients(client, 'stat', dirs, 30, 4096), /client 1 of 2/, 'whichever client fails');
  });
}
