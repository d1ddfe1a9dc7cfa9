// One tiny real run of `tsfuse bench` through the built CLI, as root: every
// workload on the native directory and on both mounts, at a scale where it
// takes seconds. Checked: the JSON, the Markdown and SVG files, that nothing
// stays mounted and that the directory is left as it was. No timing is asserted.
// `npm test` builds first; running this file alone needs `npm run build`.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Server } from '../bench/mounts';
import { mountsUnder, tempDir } from './helpers/tmp';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const SERVER = path.join(ROOT, 'dist/bench/server.js');

if (process.geteuid?.() !== 0) {
  t.plan(0, 'mounting needs root');
} else if (!fs.existsSync(MAIN) || !fs.existsSync(SERVER)) {
  t.fail('dist/ is not built: run `npm run build` (npm test does)');
} else {
  // ~25 s here (two rounds of every step on three configurations, cache drops); room for a busy machine.
  t.setTimeout(300_000);
  t.test('tsfuse bench --json at a tiny scale', async (t) => {
    const base = tempDir(t, 'tsfuse-bench-run-');
    const dir = path.join(base, 'dir');
    fs.mkdirSync(dir);
    const mdFile = path.join(base, 'out.md');
    const svg = path.join(base, 'out.svg');
    let child: ReturnType<typeof spawn> | undefined;
    // Runs before tempDir's teardown, which then detaches what the killed bench left mounted.
    t.teardown(() => {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    });

    const args = [MAIN, 'bench', '--json', '--scale', '0.001', '--rounds', '2', '--clients', '1,2', '--targets', '--dir', dir, '--markdown', mdFile, '--svg', svg];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = '';
      let stderr = '';
      child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    t.equal(code, 0, 'exit 0', { stderr: stderr.slice(-2000) });
    const doc = JSON.parse(stdout) as {
      configs: string[];
      results: { workload: string; config: string; seconds: number; ratioToNative: number | null; rounds: number }[];
      failures: unknown[];
      skipped: { workload: string; config?: string }[];
      requests: Record<string, Record<string, number>>;
      counters: Record<string, Record<string, number>>;
      targets?: { what: string }[];
    };
    t.same(doc.configs, ['native', 'fuse', 'passthrough']);
    t.same(doc.failures, [], 'no step failed');
    const workloads = [...new Set(doc.results.map((r) => r.workload))];
    for (const w of ['4k.write', '4k.read_warm', '4k.read_cold', 'meta.stat', 'meta.list', 'meta.unlink', '64k.write', '1m.read_cold', '10m.read_warm', 'dd.write', 'dd.read', 'rand4k.read',
      'p1.create', 'p1.read', 'p1.stat', 'p2.create', 'p2.read', 'p2.stat']) {
      t.ok(workloads.includes(w), `${w} measured`);
    }
    for (const w of workloads) {
      for (const c of doc.configs) {
        const r = doc.results.find((x) => x.workload === w && x.config === c);
        t.ok(r && r.seconds > 0 && r.rounds === 2 && typeof r.ratioToNative === 'number', `${w} on ${c}: 2 rounds and a ratio`);
      }
    }
    t.ok((doc.requests.fuse?.READ ?? 0) > 0, 'without passthrough the server saw READs');
    t.equal(doc.requests.passthrough?.READ ?? 0, 0, 'with passthrough it saw none');
    t.equal(doc.requests.passthrough?.WRITE ?? 0, 0, 'and no WRITEs');
    t.ok((doc.counters.passthrough?.['backing ids registered'] ?? 0) > 0, 'backing ids are counted');
    t.notOk(Object.keys(doc.requests.passthrough ?? {}).some((k) => /backing/i.test(k)), 'but not as a request');
    t.ok(doc.targets?.some((x) => x.what.startsWith('passthrough 10m.read_cold')), '--targets: checked');
    const md = fs.readFileSync(mdFile, 'utf8');
    t.match(md, /\| workload \| P \| native ops\/s \| fuse ops\/s \| fuse \/ native \|/, 'the clients table');

    t.match(md, /\| workload \| native s \|/, 'the Markdown table was written');
    t.match(fs.readFileSync(svg, 'utf8'), /^<svg [\s\S]*<\/svg>\n$/, 'the SVG was written');
    t.same(mountsUnder(base), [], 'nothing is left mounted');
    t.same(fs.readdirSync(dir), [], 'the directory is left empty');
  });

  t.test('the bench passes server options through: entry timeout 0 sends a LOOKUP per stat, 1 s one in all', async (t) => {
    for (const [timeout, expect] of [[0, (n: number) => n >= 5], [1, (n: number) => n === 1]] as const) {
      const base = tempDir(t, 'tsfuse-bench-server-');
      const [src, mnt] = ['src', 'mnt'].map((d) => fs.mkdirSync(path.join(base, d), { recursive: true }) ?? path.join(base, d));
      fs.writeFileSync(path.join(src, 'f'), 'x');
      const args = [`--entry-timeout=${timeout}`, `--attr-timeout=${timeout}`];
      const server = await Server.start({ src, mnt, passthrough: false, statsFile: path.join(base, 'stats.json'), args });
      try {
        for (let i = 0; i < 5; i++) fs.statSync(path.join(mnt, 'f'));
      } finally {
        const stats = await server.stop();
        const lookups = stats?.requests.LOOKUP ?? 0;
        t.ok(expect(lookups), `timeout ${timeout}: ${lookups} LOOKUPs for 5 stats`);
      }
    }
  });
}
