/**
 * A small SVG line chart for the capacity benchmark: success rate (y) against concurrent
 * sessions (x, log2 scale), one line per passive-ports-per-backend value. Pure; no dependencies.
 */

export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
}

const COLORS = ['#1b6ca8', '#d1495b', '#2e933c', '#edae49', '#6a4c93', '#00798c'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lineChartSvg(opts: {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  xs: readonly number[];
  series: readonly Series[];
}): string {
  const W = 720;
  const H = 420;
  const m = { left: 70, right: 170, top: 60, bottom: 60 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const lx = (x: number) => Math.log2(x);
  const [x0, x1] = [lx(Math.min(...opts.xs)), lx(Math.max(...opts.xs))];
  const px = (x: number) => m.left + (x1 === x0 ? pw / 2 : ((lx(x) - x0) / (x1 - x0)) * pw);
  const py = (y: number) => m.top + ph - (y / 100) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(`${opts.title}. ${opts.subtitle}`)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="24" font-size="16" font-weight="bold">${esc(opts.title)}</text>`,
    `<text x="${m.left}" y="42" fill="#555">${esc(opts.subtitle)}</text>`,
  ];
  for (const y of [0, 25, 50, 75, 100]) {
    parts.push(`<line x1="${m.left}" y1="${py(y)}" x2="${m.left + pw}" y2="${py(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.left - 8}" y="${py(y) + 4}" text-anchor="end">${y}%</text>`);
  }
  for (const x of opts.xs) {
    parts.push(`<line x1="${px(x)}" y1="${m.top}" x2="${px(x)}" y2="${m.top + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${px(x)}" y="${m.top + ph + 18}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  parts.push(
    `<text x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})">${esc(opts.yLabel)}</text>`,
  );
  opts.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${color}"/>`);
    const ly = m.top + 10 + i * 22;
    parts.push(`<line x1="${m.left + pw + 20}" y1="${ly}" x2="${m.left + pw + 44}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`);
    parts.push(`<text x="${m.left + pw + 50}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
