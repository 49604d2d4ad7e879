/**
 * Runs every clean-up step in order, even when an earlier one throws (e.g. a client that set-up
 * never made because the daemon did not start), so that what was started is still stopped; then
 * throws the first error, if any.
 *
 *   afterAll(() => cleanUpAll(() => client.close(), () => daemon.stop(), () => consul.stop()));
 */
export async function cleanUpAll(...steps: (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
}
