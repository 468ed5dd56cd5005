/*
 * Loaded into a gateway with `node --require` (SKYPLANE_GATEWAY_NODE_ARGS): a local store that silently
 * stores other bytes than it was given (one byte flipped) and reports success, as a faulty disk or
 * driver would. The hashes it was handed stay those of the good bytes.
 */
import { LocalStore } from "../../stores/local";
import { pieces, WriteData } from "../../stores/types";

function corrupt(data: WriteData): Buffer[] {
  const copy = Buffer.concat(pieces(data) as Buffer[]);
  if (copy.length > 0) copy[copy.length >> 1] ^= 0x01;
  return [copy];
}

const put = LocalStore.prototype.put;
LocalStore.prototype.put = function (key, data, opts) {
  return put.call(this, key, corrupt(data), opts);
};
const uploadPart = LocalStore.prototype.uploadPart;
LocalStore.prototype.uploadPart = function (key, uploadId, partNumber, data, opts) {
  return uploadPart.call(this, key, uploadId, partNumber, corrupt(data), opts);
};
