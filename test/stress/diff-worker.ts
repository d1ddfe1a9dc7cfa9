// One process of a multi-process differential run: argv is a JSON
// {seed, count, native, mounted, mmap}; prints the DifferentialResult as one JSON line.
import { differential } from './differential';

const a = JSON.parse(process.argv[2]) as { seed: number; count: number; native: string; mounted: string; mmap?: boolean };
const r = differential(a.seed, a.count, a.native, a.mounted, { mmap: a.mmap });
process.stdout.write(JSON.stringify(r) + '\n');
