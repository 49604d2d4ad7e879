/** A path as the node journals it, for tests of PathSetup, the drivers and the data-path probe. */
import type { LocalPath } from "../../src/node/path-journal.js";

export const TEST_IQN = "iqn.2016-05.org.sanpath:00001";

/** Path 1 of disk 00001 at 198.51.100.50/24 on eth1, being set up; `overrides` change any field. */
export function localPath(overrides: Partial<LocalPath> = {}): LocalPath {
  return {
    diskId: "00001",
    index: 1,
    ip: "198.51.100.50",
    prefixLength: 24,
    interface: "eth1",
    vlanId: undefined,
    iqn: TEST_IQN,
    state: "configuring",
    ...overrides,
  };
}
