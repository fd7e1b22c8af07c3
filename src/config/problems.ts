// How a problem with config.ini is told: one line `LOOM_ERR_CONFIG FILE:LINE [section] key:
// message`, the same from `check`, `start`, `reload` and the master's log. config.ini is
// hostile input, so whatever of it a line echoes is made printable first.
import { LoomError } from '../core/errors.js';

/** One thing wrong with the configuration; `line` 0 means the file as a whole. */
export interface ConfigProblem {
  file: string;
  line: number;
  section: string;
  key: string;
  message: string;
}

// Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width), line and
// paragraph separators, lone surrogates, private-use and unassigned code points: anything
// that could move the cursor, recolour or reorder a terminal line instead of showing itself.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** `text` with every unprintable character written as an escape (`\x1b`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  const section = p.section ? ` [${p.section}]` : '';
  const key = p.key ? ` ${p.key}` : '';
  return `LOOM_ERR_CONFIG ${printable(`${where}${section}${key}: ${p.message}`)}`;
}

/** An invalid config.ini: its message is every problem, one line each. */
export class ConfigError extends LoomError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super('LOOM_ERR_CONFIG', problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}
