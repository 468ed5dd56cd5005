import * as assert from "node:assert/strict";
import { checkKeepWarm, MAX_KEEP_WARM_SECONDS, parseDuration } from "../../common/ttl";
import { UserError } from "../../errors";

describe("common/ttl: durations", () => {
  it("reads durations with units, and bare numbers as seconds", () => {
    const cases: Array<[string, number]> = [
      ["10m", 600],
      ["90s", 90],
      ["1h30m", 5400],
      ["2h", 7200],
      ["45", 45],
      ["1.5m", 90],
      ["500ms", 0.5],
      ["0", 0],
      [" 5m ", 300],
    ];
    for (const [text, seconds] of cases) assert.equal(parseDuration(text), seconds, text);
  });

  it("refuses anything else with a UserError that shows the forms", () => {
    for (const text of ["", "m", "10x", "-5m", "5 m", "1h 30m", "ten", "1e3", "10mm"]) {
      assert.throws(
        () => parseDuration(text, "--keep-warm"),
        (err: unknown) =>
          err instanceof UserError &&
          err.code === "BAD_DURATION" &&
          /--keep-warm takes a duration such as 10m/.test(err.message),
        `'${text}'`,
      );
    }
  });

  it("keeps a warm period within the gateways' longest TTL", () => {
    assert.equal(checkKeepWarm(0), 0);
    assert.equal(checkKeepWarm(MAX_KEEP_WARM_SECONDS), MAX_KEEP_WARM_SECONDS);
    for (const bad of [-1, MAX_KEEP_WARM_SECONDS + 1, Number.NaN, Infinity])
      assert.throws(() => checkKeepWarm(bad, "--keep-warm"), /--keep-warm must be from 0 to 24 h/);
  });
});
