/**
 * C0 and C1 control characters, DEL, the Unicode line and paragraph separators and the bidi
 * embedding, override and isolate marks: what would ring a bell, move the cursor, split a line or
 * reorder the text around it if printed raw.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with every such character written as its escape, "\u0007", and everything else as it is. */
export function escapeControls(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
