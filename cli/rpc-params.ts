import { badMessage } from "./rpc-wire";

/*
 * Reading a request's params: each accessor checks one field's type and refuses the message (BAD_MESSAGE,
 * naming the method and the field) when it is wrong, so that a typo never reaches the library as `undefined`.
 */

/** A request's params, with the method they belong to (for the messages). */
export class Params {
  constructor(
    /** The method, as the request named it. */
    readonly method: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  private wrong(name: string, what: string): never {
    // The value's type only: a misplaced credential must not be echoed into a message.
    const v = this.raw[name];
    const got =
      v === undefined
        ? "nothing"
        : v === null
          ? "null"
          : Array.isArray(v)
            ? "an array"
            : typeof v === "object"
              ? "an object"
              : `a ${typeof v}`;
    throw badMessage(`"${this.method}" takes "${name}" as ${what}, not ${got}`);
  }

  /** A string that must be there. */
  string(name: string): string {
    const v = this.raw[name];
    return typeof v === "string" ? v : this.wrong(name, "a string");
  }

  /** A string, or undefined when absent or null. */
  optString(name: string): string | undefined {
    const v = this.raw[name];
    return v === undefined || v === null ? undefined : this.string(name);
  }

  /** A boolean, or undefined when absent or null. */
  optBoolean(name: string): boolean | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === "boolean" ? v : this.wrong(name, "true or false");
  }

  /** A finite number, or undefined when absent or null. */
  optNumber(name: string): number | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isFinite(v) ? v : this.wrong(name, "a number");
  }

  /** A positive integer that must be there (a handle the server gave out). */
  handle(name: string): number {
    const v = this.raw[name];
    return typeof v === "number" && Number.isSafeInteger(v) && v > 0
      ? v
      : this.wrong(name, "a handle (a positive integer)");
  }

  /** A request id that must be there: an integer or a string. */
  requestId(name: string): number | string {
    const v = this.raw[name];
    return typeof v === "string" || (typeof v === "number" && Number.isSafeInteger(v))
      ? v
      : this.wrong(name, "a request id");
  }

  /** A JSON object (checked further by whoever reads it), or undefined when absent or null. */
  optObject(name: string): Record<string, unknown> | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === "object" && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : this.wrong(name, "an object");
  }

  /** An object of string fields (credentials), or undefined when absent or null. */
  optStrings(name: string, fields: readonly string[]): Record<string, string> | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) return this.wrong(name, "an object");
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
      if (!fields.includes(key))
        throw badMessage(
          `"${this.method}" takes ${name}.${key}, which is none of ${fields.join(", ")}`,
        );
      if (value === null || value === undefined) continue;
      if (typeof value !== "string")
        throw badMessage(`"${this.method}" takes ${name}.${key} as a string`);
      out[key] = value;
    }
    return out;
  }
}
