// Whether an error says the state database is out of reach (a PostgreSQL connection refused,
// dropped or timed out, the server shutting down), not that one statement was refused.

// SQLSTATE class 08 (connection exception) and 57P01-57P03 (admin shutdown, crash shutdown,
// cannot connect now); Node's socket errors.
const CODES =
  /^(08\d{3}|57P0[1-3]|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;
// pg's own words for a connection it lost or could not make.
const WORDS = /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout/i;

export function isLostConnection(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if ((typeof code === 'string' && CODES.test(code)) || WORDS.test(cause.message)) return true;
  }
  return false;
}
