/*
 * One back-off helper for every adapter. Each adapter classifies its SDK's errors (its SDK's own retries
 * are switched off, so that there is one policy); this retries what is transient (5xx, throttling,
 * connection resets) with exponential back-off and full jitter, honouring Retry-After, and never
 * retries a client error (4xx), which would only fail again.
 */

/** What an adapter says about an error. */
export interface Verdict {
  /** True for a transient failure. */
  readonly retry: boolean;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly afterMs?: number;
}

/** How hard to try. */
export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  readonly attempts?: number;
  /** First back-off, ms. Default 100. */
  readonly baseMs?: number;
  /** Longest back-off, ms. Default 5000. */
  readonly maxMs?: number;
  /** Called before each retry (for logs and tests). */
  readonly onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
}

/** Runs `fn`, retrying transient failures as `classify` judges them. */
export async function withRetries<T>(
  fn: () => Promise<T>,
  classify: (err: unknown) => Verdict,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const verdict = classify(err);
      if (!verdict.retry || attempt >= attempts) throw err;
      const cap = Math.min(opts.maxMs ?? 5000, (opts.baseMs ?? 100) * 2 ** (attempt - 1));
      const delay = verdict.afterMs ?? Math.round(Math.random() * cap);
      opts.onRetry?.(attempt, err, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The verdict for an HTTP status: retry 408, 429 and 5xx. */
export function httpVerdict(status: number | undefined, retryAfter?: string | null): Verdict {
  if (status === undefined) return { retry: false };
  const transient = status === 408 || status === 429 || status >= 500;
  const seconds = retryAfter ? Number(retryAfter) : NaN;
  return {
    retry: transient,
    ...(transient && Number.isFinite(seconds) ? { afterMs: seconds * 1000 } : {}),
  };
}

/** Connection-level failures worth another try. */
export function isTransientNetworkError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? "";
  return [
    "ECONNRESET",
    "ECONNREFUSED",
    "EPIPE",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "UND_ERR_SOCKET",
  ].includes(code);
}
