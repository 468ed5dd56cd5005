/*
 * Loaded into a gateway with `node --require` (SKYPLANE_GATEWAY_NODE_ARGS): a local store that records in
 * the file SKYPLANE_TEST_WRITES_FILE the most writes (puts and parts) it ever had under way at once,
 * each made to take 2 ms.
 */
import * as fs from "node:fs";
import { LocalStore } from "../../stores/local";

const file = process.env.SKYPLANE_TEST_WRITES_FILE as string;
let now = 0;
let most = 0;

function counted<A extends unknown[], R>(write: (...args: A) => Promise<R>) {
  return async function (this: LocalStore, ...args: A): Promise<R> {
    now++;
    if (now > most) fs.writeFileSync(file, String((most = now)));
    try {
      // A write that takes a while, as a cloud's does: the local store's small writes finish within
      // one turn of the event loop, and would never overlap whatever the limit.
      await new Promise((resolve) => setTimeout(resolve, 2));
      return await write.apply(this, args);
    } finally {
      now--;
    }
  };
}

LocalStore.prototype.put = counted(LocalStore.prototype.put);
LocalStore.prototype.uploadPart = counted(LocalStore.prototype.uploadPart);
