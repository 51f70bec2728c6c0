// Every refusal of the API is one JSON object {error, message, field?} with its HTTP status
// (docs/api.md#errors); never a stack trace.

export type ApiErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'invalid-plan'
  | 'too-many-requests'
  | 'payload-too-large'
  | 'internal'
  | 'unavailable';

const STATUS: Readonly<Record<ApiErrorCode, number>> = {
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'payload-too-large': 413,
  'invalid-plan': 422,
  'too-many-requests': 429,
  internal: 500,
  unavailable: 503,
};

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = STATUS[code];
  }

  body(): { error: ApiErrorCode; message: string; field?: string } {
    return { error: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) };
  }

  // A command's refusal (docs/commands.md exit codes): 2 is the caller's mistake or a thing that
  // is not there, 1 a state that forbids it now.
  static fromCommand(exitCode: number, message: string): ApiError {
    if (exitCode === 2)
      return new ApiError(
        /\b(no such|not found|no backup|no point|unknown (plan|vm|point))\b/i.test(message)
          ? 'not-found'
          : 'bad-request',
        message,
      );
    return new ApiError('conflict', message);
  }
}
