/** What went wrong, as a line a person can read: the message of an Error, or the thrown value itself. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
