// The `ini` package parses values but keeps no line numbers, and silently accepts things an
// operator almost never means (a key repeated, keys before any section, dotted sections that
// it nests). This scanner walks the same text to locate every section and key.

export interface ScannedKey { key: string; line: number }
export interface ScannedSection { name: string; line: number; keys: Map<string, ScannedKey> }
export interface ScanIssue { line: number; section: string; key: string; message: string }

export interface IniScan {
  sections: Map<string, ScannedSection>;
  issues: ScanIssue[];
}

export function scanIni(text: string): IniScan {
  const sections = new Map<string, ScannedSection>();
  const issues: ScanIssue[] = [];
  let current: ScannedSection | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.*)\]\s*([;#].*)?$/.exec(line);
    if (header) {
      const name = header[1].trim();
      if (!/^[A-Za-z0-9_-]+$/.test(name)) {
        issues.push({ line: lineNo, section: name, key: '', message: 'section name may contain only letters, digits, _ and -' });
      }
      if (sections.has(name)) {
        issues.push({ line: lineNo, section: name, key: '', message: `section repeated (first at line ${sections.get(name)!.line})` });
        current = sections.get(name)!;
        continue;
      }
      current = { name, line: lineNo, keys: new Map() };
      sections.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!current) {
      issues.push({ line: lineNo, section: '', key, message: 'key outside any section (put it under [loom] or a group)' });
      continue;
    }
    if (eq < 0) {
      issues.push({ line: lineNo, section: current.name, key, message: 'expected key = value' });
      continue;
    }
    const previous = current.keys.get(key);
    if (previous) {
      issues.push({ line: lineNo, section: current.name, key, message: `key repeated (first at line ${previous.line})` });
      continue;
    }
    current.keys.set(key, { key, line: lineNo });
  }
  return { sections, issues };
}
