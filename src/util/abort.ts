/**
 * Whether the signal has fired. A function, not `signal.aborted` inline: TypeScript keeps a property
 * narrowed across an await, which would make a re-check look redundant.
 */
export function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
