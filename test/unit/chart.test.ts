import { describe, expect, it } from 'vitest';
import { lineChartSvg } from '../../bench/chart';

describe('benchmark chart', () => {
  const svg = lineChartSvg({
    title: 'a <b> & c',
    subtitle: 's',
    xLabel: 'x',
    yLabel: 'y',
    xs: [1, 2, 4],
    series: [
      {
        label: 'r=1',
        points: [
          { x: 1, y: 100 },
          { x: 2, y: 50 },
          { x: 4, y: 0 },
        ],
      },
      {
        label: 'r=4',
        points: [
          { x: 1, y: 100 },
          { x: 2, y: 100 },
          { x: 4, y: 100 },
        ],
      },
    ],
  });

  it('draws one line per series with its legend, escaping text', () => {
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('>r=1<');
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toMatch(/<title>a &lt;b&gt; &amp; c. s<\/title>/);
  });

  it('puts 100% at the top, 0% at the bottom, and x on a log2 scale', () => {
    const [first, second] = [...svg.matchAll(/points="([^"]+)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
    expect(first[0][1]).toBeLessThan(first[2][1]); // 100% above 0%
    expect(second.every(([, y]) => y === second[0][1])).toBe(true);
    // 1 -> 2 -> 4 are evenly spaced on a log2 axis.
    expect(first[1][0] - first[0][0]).toBeCloseTo(first[2][0] - first[1][0], 5);
  });
});
