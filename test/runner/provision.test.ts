import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { logTail } from "../../runner/provision";

describe("runner/provision: what a gateway that does not answer said", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-provision-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("quotes the last lines of its log, and nothing for a log that is not here (a cloud's)", () => {
    const log = path.join(dir, "gw.log");
    // Longer than the 16 KiB read from the end: only the end is read, and it still ends in whole lines.
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${"x".repeat(20)}`);
    fs.writeFileSync(log, lines.join("\n") + "\n");
    assert.equal(logTail(log, 3), lines.slice(-3).join("\n"));
    assert.equal(logTail(path.join(dir, "missing.log")), undefined);
    fs.writeFileSync(log, "");
    assert.equal(logTail(log), undefined, "an empty log says nothing");
  });
});
