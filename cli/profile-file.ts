import * as fs from "node:fs";
import { NetworkProfile, parseProfile, UserError } from "../runner";

/** Reads a network profile file, reporting an unreadable or invalid one as a UserError. */
export function readProfile(file: string | undefined): NetworkProfile | undefined {
  if (!file) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(
      "UNREADABLE",
      `cannot read the network profile ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    return parseProfile(JSON.parse(text));
  } catch (err) {
    throw new UserError("BAD_PROFILE", `${file}: ${(err as Error).message}`, { cause: err });
  }
}
