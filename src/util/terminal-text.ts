/**
 * Untrusted text for a terminal (issue 8, finding 8). A notification's body, topic and sender
 * come from other people; printed raw, an ESC sequence can move the cursor, erase the line and
 * print a forged `… otherpeer: …` line, a CR or LF can start one, and Unicode bidi controls
 * (Trojan Source, CVE-2021-42574) can reorder what is shown. In text mode every such character
 * is shown as a visible escape instead, so one notification is always exactly one line.
 *
 * Escaped: C0 (U+0000–U+001F, including TAB, CR, LF and ESC), DEL (U+007F), C1 (U+0080–U+009F,
 * e.g. U+009B CSI, which some terminals honour like ESC [), the bidi controls U+061C, U+200E,
 * U+200F, U+202A–U+202E, U+2066–U+2069, the line/paragraph separators U+2028/U+2029, and lone
 * surrogates. The backslash itself is doubled so an escape cannot be faked by typing one.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\\]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

export function escapeTerminalText(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
