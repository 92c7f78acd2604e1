// A small hand-written SVG of the soak's series: one panel per series, time across, the
// warm-up shaded, and the first- and last-quarter medians the trend test compares drawn dashed.
import type { Sample, Trend } from './series.js';

export interface Panel {
  title: string;
  pick: (sample: Sample) => number;
  /** Shown values are divided by this (e.g. 1 MiB). */
  unit: number;
  unitLabel: string;
  trend?: Trend;
}

const WIDTH = 900;
const PANEL_HEIGHT = 150;
const MARGIN = { left: 70, right: 20, top: 50, bottom: 40 };
const GAP = 30;

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function fmt(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function renderChart(title: string, samples: readonly Sample[], warmupS: number, panels: readonly Panel[]): string {
  const height = MARGIN.top + panels.length * (PANEL_HEIGHT + GAP) + MARGIN.bottom;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const tMax = Math.max(1, ...samples.map((sample) => sample.t));
  const x = (t: number): number => MARGIN.left + (t / tMax) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((panel, index) => {
    const top = MARGIN.top + index * (PANEL_HEIGHT + GAP);
    const values = samples.map((sample) => panel.pick(sample) / panel.unit);
    let lo = Math.min(...values, panel.trend !== undefined ? panel.trend.firstMedian / panel.unit : Infinity);
    let hi = Math.max(...values, panel.trend !== undefined ? panel.trend.lastMedian / panel.unit : -Infinity);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
    if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.1;
    lo -= pad;
    hi += pad;
    const y = (v: number): number => top + PANEL_HEIGHT - ((v - lo) / (hi - lo)) * PANEL_HEIGHT;
    if (warmupS > 0) {
      parts.push(
        `<rect x="${MARGIN.left}" y="${top}" width="${Math.min(plotWidth, x(warmupS) - MARGIN.left).toFixed(1)}" height="${PANEL_HEIGHT}" fill="#eee"/>`,
      );
      parts.push(`<text x="${MARGIN.left + 4}" y="${top + 14}" fill="#888">warm-up</text>`);
    }
    parts.push(`<rect x="${MARGIN.left}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
    parts.push(`<text x="${MARGIN.left}" y="${top - 6}" font-weight="bold">${esc(`${panel.title} (${panel.unitLabel})`)}</text>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${top + 10}" text-anchor="end">${fmt(hi)}</text>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${top + PANEL_HEIGHT}" text-anchor="end">${fmt(lo)}</text>`);
    if (panel.trend !== undefined) {
      const { firstMedian, lastMedian, upward } = panel.trend;
      for (const [value, label] of [
        [firstMedian, 'first-quarter median'],
        [lastMedian, 'last-quarter median'],
      ] as const) {
        const yy = y(value / panel.unit).toFixed(1);
        parts.push(
          `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yy}" y2="${yy}" stroke="${upward ? '#c00' : '#4a4'}" stroke-dasharray="4 4"/>`,
        );
        parts.push(
          `<text x="${WIDTH - MARGIN.right - 4}" y="${(Number(yy) - 3).toFixed(1)}" text-anchor="end" fill="#666" font-size="10">${label} ${fmt(value / panel.unit)}</text>`,
        );
      }
    }
    const points = samples.map((sample, i) => `${x(sample.t).toFixed(1)},${y(values[i] as number).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>`);
  });
  const axisY = MARGIN.top + panels.length * (PANEL_HEIGHT + GAP) - GAP + 16;
  for (let i = 0; i <= 5; i++) {
    const t = (tMax * i) / 5;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="middle">${t.toFixed(0)} s</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
