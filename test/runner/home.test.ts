import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { skyplaneHome } from "../../common/paths";
import { ensureHome, readOrCreatePassphrase } from "../../runner/home";
import { engineEnv } from "../../runner/engine";

describe("runner/home", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-home-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("puts the home at SKYPLANE_HOME, else ~/.skyplane", () => {
    assert.equal(skyplaneHome({ SKYPLANE_HOME: "/tmp/x/../y" }), "/tmp/y");
    assert.equal(skyplaneHome({}), path.join(os.homedir(), ".skyplane"));
    assert.equal(skyplaneHome({ SKYPLANE_HOME: "  " }), path.join(os.homedir(), ".skyplane"));
  });

  it("creates the home's folders for its owner only", () => {
    const layout = ensureHome(path.join(dir, "h"));
    for (const d of [layout.root, layout.state, layout.pulumiHome, layout.workspace, layout.logs]) {
      assert.equal(fs.statSync(d).mode & 0o777, 0o700, d);
    }
  });

  it("keeps the home and every folder in it owner-only, whatever the umask and the folders' old modes", () => {
    const umask = process.umask(0o022);
    try {
      const root = path.join(dir, "h");
      // A home left by an older version: its folders as the umask made them.
      for (const sub of ["", "state", "buckets", "run", "logs"]) {
        fs.mkdirSync(path.join(root, sub), { recursive: true, mode: 0o755 });
      }
      const layout = ensureHome(root);
      const dirs = [root, layout.state, layout.pulumiHome, layout.workspace, layout.logs];
      dirs.push(...["buckets", "run", "folders"].map((d) => path.join(root, d)));
      assert.equal(dirs.length, 8);
      for (const d of dirs) assert.equal((fs.statSync(d).mode & 0o777).toString(8), "700", d);
    } finally {
      process.umask(umask);
    }
  });

  it("generates the passphrase once, with mode 0600, and reuses it", () => {
    const file = path.join(dir, "passphrase");
    const first = readOrCreatePassphrase(file);
    assert.ok(first.length >= 40, "32 random bytes, base64url");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(readOrCreatePassphrase(file), first);
    assert.deepEqual(fs.readdirSync(dir), ["passphrase"], "no temporary file is left behind");
  });

  it("refuses an empty passphrase file instead of encrypting with nothing", () => {
    const file = path.join(dir, "passphrase");
    fs.writeFileSync(file, "\n");
    assert.throws(() => readOrCreatePassphrase(file), /is empty/);
  });

  it("lets the user's own passphrase win over the generated one", () => {
    const layout = ensureHome(path.join(dir, "h"));
    assert.equal(
      engineEnv(layout, { PULUMI_CONFIG_PASSPHRASE: "mine" }).PULUMI_CONFIG_PASSPHRASE,
      "mine",
    );
    const viaFile = engineEnv(layout, { PULUMI_CONFIG_PASSPHRASE_FILE: "/p" });
    assert.equal(viaFile.PULUMI_CONFIG_PASSPHRASE_FILE, "/p");
    assert.equal(viaFile.PULUMI_CONFIG_PASSPHRASE, undefined);
    assert.equal(
      fs.existsSync(layout.passphraseFile),
      false,
      "nothing generated when the user set one",
    );
    const generated = engineEnv(layout, {});
    assert.equal(
      generated.PULUMI_CONFIG_PASSPHRASE,
      fs.readFileSync(layout.passphraseFile, "utf8").trim(),
    );
    assert.equal(generated.PULUMI_SKIP_UPDATE_CHECK, "true");
    assert.equal(generated.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, "true");
  });
});
