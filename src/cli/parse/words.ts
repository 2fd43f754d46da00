/**
 * A flag value that holds a command line (`service update --args "server.mjs --port 81"`),
 * split into words as a POSIX shell splits them, without running one: nothing is expanded
 * or substituted, so `$HOME`, `*` and `~` stay as written.
 *
 *   - blanks (space, tab, newline, carriage return) separate words; runs of them count once,
 *     and leading or trailing ones make no empty word;
 *   - `'...'` keeps everything inside as written, backslashes included;
 *   - `"..."` keeps everything inside except that a backslash escapes `"`, `\`, `$`, `` ` ``
 *     (and a newline, which it removes); before any other character it stays;
 *   - outside quotes a backslash makes the next character ordinary (a backslash-newline
 *     is removed, as a shell joins continued lines);
 *   - quoted and unquoted pieces with no blank between them are one word, and `''` or `""`
 *     is an empty word;
 *   - `#` is an ordinary character: a shell's comment would silently drop the words after
 *     it, which is never what a flag value means.
 *
 * An unterminated quote or a trailing lone backslash is refused rather than guessed at.
 */
import { badFlagValue } from './usage-error.ts';

const BLANKS = ' \t\n\r';
/** What a backslash escapes inside double quotes (POSIX "Double-Quotes"). */
const DQ_ESCAPABLE = '"\\$`\n';

export function splitWords(text: string, flag: string): string[] {
  const words: string[] = [];
  let word = '';
  // a word has begun even when it is empty so far: `''` is a word
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (BLANKS.includes(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw badFlagValue(flag, text, 'it ends in a backslash that escapes nothing');
      const next = text[i + 1]!;
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw badFlagValue(flag, text, `the single quote at position ${i + 1} is not closed`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= text.length) throw badFlagValue(flag, text, `the double quote at position ${start + 1} is not closed`);
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && DQ_ESCAPABLE.includes(text[i + 1]!)) {
          if (text[i + 1] !== '\n') word += text[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
