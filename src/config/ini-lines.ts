// Reads config.ini line by line: every section and key with its line number and its value.
// Values are unquoted and stripped of inline comments exactly as the `ini` package does
// (its `unsafe()`), so the format is ini's; but the `ini` parser keeps no line numbers and
// silently accepts things an operator almost never means (a key repeated, keys before any
// section, dotted sections that it nests, an indented `[section]` that it takes for a key),
// so the structure is read here and each of those is reported.
import { unsafe } from 'ini';

export interface ScannedKey { key: string; line: number; value: string }
export interface ScannedSection { name: string; line: number; keys: Map<string, ScannedKey> }
export interface ScanIssue { line: number; section: string; key: string; message: string }

export interface IniScan {
  sections: Map<string, ScannedSection>;
  issues: ScanIssue[];
}

export const SECTION_NAME = /^[A-Za-z0-9_-]+$/;

export function scanIni(text: string): IniScan {
  const sections = new Map<string, ScannedSection>();
  const issues: ScanIssue[] = [];
  let current: ScannedSection | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const header = /^\[([^\]]*)\]\s*([;#].*)?$/.exec(line);
      if (!header) {
        issues.push({ line: lineNo, section: '', key: '', message: `"${line}" is not a section header: write [name] alone on the line` });
        current = null;
        continue;
      }
      const name = header[1].trim();
      if (!SECTION_NAME.test(name)) {
        const what = name === '' ? 'empty section name' : `section name "${name}" may contain only letters, digits, _ and -`;
        issues.push({ line: lineNo, section: name, key: '', message: what });
      }
      const seen = sections.get(name);
      if (seen) {
        issues.push({ line: lineNo, section: name, key: '', message: `section repeated (first at line ${seen.line})` });
        current = seen;
        continue;
      }
      current = { name, line: lineNo, keys: new Map() };
      sections.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = unsafe(eq < 0 ? line : line.slice(0, eq));
    const section = current?.name ?? '';
    if (eq < 0) {
      issues.push({ line: lineNo, section, key, message: 'expected key = value' });
      continue;
    }
    if (key === '') {
      issues.push({ line: lineNo, section, key: '', message: 'missing key name before "="' });
      continue;
    }
    if (!current) {
      issues.push({ line: lineNo, section: '', key, message: 'key outside any section (put it under [loom] or a group section)' });
      continue;
    }
    if (key.endsWith('[]')) {
      issues.push({ line: lineNo, section, key, message: 'list values (key[] = ...) are not supported' });
      continue;
    }
    const previous = current.keys.get(key);
    if (previous) {
      issues.push({ line: lineNo, section, key, message: `key repeated (first at line ${previous.line})` });
      continue;
    }
    current.keys.set(key, { key, line: lineNo, value: parseValue(line.slice(eq + 1)) });
  }
  return { sections, issues };
}

/**
 * ini's `unsafe()`, plus one case it leaves alone: a quoted value followed by a comment
 * (`handler = "echo.js" ; the echo`), where ini would keep the quotes.
 */
function parseValue(raw: string): string {
  const m = /^\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*[;#]/.exec(raw);
  return m ? unsafe(m[1]) : unsafe(raw);
}
