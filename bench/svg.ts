/**
 * The ratios as a horizontal bar chart, written as SVG text: one row per
 * workload, one bar per configuration, time relative to native on a log axis
 * (a 1.05x and a 40x must both be readable), a line at 1x.
 */
import type { Report } from './report';
import { fmtRatio } from './report';

const COLORS: Record<string, string> = { native: '#9aa0a6', fuse: '#e8710a', passthrough: '#1a73e8', passthrough_hp: '#188038' };
const FALLBACK = ['#a142f4', '#d93025', '#f9ab00'];

const BAR = 11;
const GAP = 2;
const GROUP_GAP = 10;
const LEFT = 130;
const RIGHT = 60;
const TOP = 62;
const BOTTOM = 34;
const WIDTH = 860;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** 1, 2, 5 × 10^k ticks covering [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)) + 1; k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(Number(v.toPrecision(3)));
    }
  }
  return ticks;
}

/** The axis range: from the tick below the smallest ratio (at most 1) to the tick above the largest (at least 2). */
export function domain(ratios: readonly number[]): [number, number] {
  const lo = Math.min(1, ...ratios);
  const hi = Math.max(2, ...ratios);
  const steps = [1, 2, 5, 10];
  const down = (v: number): number => {
    const p = 10 ** Math.floor(Math.log10(v));
    return [...steps].reverse().map((m) => m * p).find((t) => t <= v * 0.97) ?? p / 2;
  };
  const up = (v: number): number => {
    const p = 10 ** Math.floor(Math.log10(v));
    return steps.map((m) => m * p).find((t) => t >= v * 1.03) ?? p * 20;
  };
  return [down(lo), up(hi)];
}

export function toSvg(r: Report, title = 'tsfuse bench: time relative to native (shorter is better)'): string {
  const workloads = [...new Set(r.results.map((x) => x.workload))];
  const ratios = r.results.map((x) => x.ratioToNative).filter((v): v is number => v !== null && v > 0);
  const [lo, hi] = domain(ratios);
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (v: number): number => LEFT + ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW;
  const groupH = r.configs.length * (BAR + GAP) - GAP;
  const height = TOP + workloads.length * (groupH + GROUP_GAP) - GROUP_GAP + BOTTOM;
  const color = (c: string, i: number): string => COLORS[c] ?? FALLBACK[i % FALLBACK.length];
  const e = r.environment;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(
    `<text x="${LEFT}" y="34" fill="#555555">${escapeXml(
      `${e.fstype} (${e.source}), scale ${e.scale}, median of ${e.rounds} round${e.rounds === 1 ? '' : 's'}, log scale`,
    )}</text>`,
  );
  r.configs.forEach((c, i) => {
    const lx = LEFT + i * 130;
    out.push(`<rect x="${lx}" y="42" width="12" height="10" fill="${color(c, i)}"/>`);
    out.push(`<text x="${lx + 16}" y="51">${escapeXml(c)}</text>`);
  });
  const plotBottom = height - BOTTOM;
  // Every other workload on a light band, so a bar is read against its own label.
  workloads.forEach((_, gi) => {
    if (gi % 2 === 1) {
      const gy = TOP + gi * (groupH + GROUP_GAP) - GROUP_GAP / 2;
      out.push(`<rect x="0" y="${gy}" width="${WIDTH}" height="${groupH + GROUP_GAP}" fill="#f4f6f8"/>`);
    }
  });
  for (const t of logTicks(lo, hi)) {
    const tx = x(t).toFixed(1);
    const one = t === 1;
    out.push(`<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${plotBottom}" stroke="${one ? '#202124' : '#e0e0e0'}" stroke-width="${one ? 1.5 : 1}"/>`);
    out.push(`<text x="${tx}" y="${plotBottom + 14}" text-anchor="middle" fill="#555555">${escapeXml(`${t}x`)}</text>`);
  }
  workloads.forEach((w, gi) => {
    const gy = TOP + gi * (groupH + GROUP_GAP);
    out.push(`<text x="${LEFT - 8}" y="${(gy + groupH / 2 + 4).toFixed(1)}" text-anchor="end">${escapeXml(w)}</text>`);
    r.configs.forEach((c, ci) => {
      const result = r.results.find((x) => x.workload === w && x.config === c);
      const v = result?.ratioToNative;
      if (v === null || v === undefined || !(v > 0)) return;
      const by = gy + ci * (BAR + GAP);
      const bw = Math.max(1, x(v) - LEFT);
      out.push(
        `<rect class="bar" data-workload="${escapeXml(w)}" data-config="${escapeXml(c)}" x="${LEFT}" y="${by}" ` +
          `width="${bw.toFixed(1)}" height="${BAR}" fill="${color(c, ci)}"><title>${escapeXml(`${w} ${c}: ${fmtRatio(v)} native`)}</title></rect>`,
      );
      out.push(`<text x="${(LEFT + bw + 4).toFixed(1)}" y="${by + BAR - 2}" font-size="10" fill="#202124">${escapeXml(fmtRatio(v))}</text>`);
    });
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${height - 4}" text-anchor="middle" fill="#555555">time / native time</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
