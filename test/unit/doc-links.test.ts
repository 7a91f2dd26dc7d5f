/**
 * The docs' links stay true: every relative link in README.md, SECURITY.md, docs/ and
 * bench/RESULTS.md names a file of the repository, and every `#anchor` a heading of its file (as
 * GitHub makes anchors from headings). Code blocks are left out: their text is not a link.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const DOCS = ['README.md', 'SECURITY.md', 'bench/RESULTS.md', ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter(
  (f) => f.endsWith('.md') && fs.existsSync(path.join(ROOT, f)),
);

/** The text without fenced code blocks and inline code spans. */
function prose(md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const md = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of md.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = githubAnchor(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('links in the docs', () => {
  it('finds the docs to check', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'docs/alarms.md']));
  });

  it.each(DOCS)('every relative link and anchor in %s resolves', (file) => {
    const md = prose(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    const broken: string[] = [];
    for (const m of md.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1];
      if (/^(https?:|mailto:)/.test(target)) continue;
      const [ref, anchor] = target.split('#');
      const resolved = ref ? path.normalize(path.join(path.dirname(file), ref)) : file;
      if (!fs.existsSync(path.join(ROOT, resolved))) {
        broken.push(`${target}: no file ${resolved}`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor))
        broken.push(`${target}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });

  it('makes anchors as GitHub does', () => {
    expect(githubAnchor('Try it locally')).toBe('try-it-locally');
    expect(githubAnchor('Choosing the FTP server (`ftpServer`)')).toBe('choosing-the-ftp-server-ftpserver');
    expect(githubAnchor('slot-ftp-login-failing')).toBe('slot-ftp-login-failing');
  });
});
