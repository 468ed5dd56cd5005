import * as assert from "node:assert/strict";
import { CpuProfile, summarise } from "../../bench/cpu-profile";

describe("bench/cpu-profile", () => {
  it("charges each sample's time to its function and leaves idle time out of the shares", () => {
    const frame = (functionName: string, url = "", lineNumber = -1) => ({
      functionName,
      url,
      lineNumber,
    });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)") },
        { id: 2, callFrame: frame("(idle)") },
        { id: 3, callFrame: frame("update", "node:internal/crypto/cipher", 172) },
        { id: 4, callFrame: frame("crc32", "/x/dist/stores/checksum.js", 44) },
        { id: 5, callFrame: frame("", "/x/dist/a.js", 9) },
      ],
      startTime: 0,
      endTime: 1_000_000,
      // 0.4 s idle, 0.3 s update, 0.2 s crc32, 0.1 s anonymous.
      samples: [2, 3, 2, 3, 4, 3, 4, 2, 5, 2],
      timeDeltas: Array.from({ length: 10 }, () => 100_000), // µs
    };
    const s = summarise(profile, 2);
    assert.equal(s.sampledSeconds, 1);
    assert.equal(s.busySeconds, 0.6);
    assert.equal(s.busyShare, 0.6);
    assert.deepEqual(s.top, [
      { fn: "update", at: "cipher:173", selfMs: 300, share: 0.5 },
      { fn: "crc32", at: "checksum.js:45", selfMs: 200, share: 0.333 },
    ]);
    assert.deepEqual(summarise(profile, 5).top[2], {
      fn: "(anonymous)",
      at: "a.js:10",
      selfMs: 100,
      share: 0.167,
    });
  });
});
