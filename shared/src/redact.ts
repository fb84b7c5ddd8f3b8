// Camera URLs carry passwords (rtsp://user:secret@host/...). Every string that may reach a
// log, a job, an object's metadata or an error goes through here first.

// The password runs to the last '@' before the path: ffmpeg and URL parsers read an unencoded '@'
// in a password the same way.
const USERINFO_IN_URL = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:'"]*):([^/\s'"]*)@/gi;
// Mistyped URLs (`rtsp:/admin:pw@cam`, or no scheme at all) still carry `user:password@`.
const BARE_USERINFO = /([^\s/@:'"]+):([^\s/@'"]+)@(?=[^\s/@'"]+)/g;
// upload_id: a Cloud Storage resumable session URI lets whoever holds it write that upload.
const SECRET_QUERY_PARAM = /([?&](?:password|passwd|pwd|pass|token|secret|api_key|apikey|upload_id)=)[^&\s'"]*/gi;

export const REDACTED = '***';

/** Replaces the password in every URL inside `text` and secret query parameters with ***. */
export function redactSecrets(text: string): string {
  return text
    .replace(USERINFO_IN_URL, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`)
    .replace(BARE_USERINFO, (_m, user: string) => `${user}:${REDACTED}@`)
    .replace(SECRET_QUERY_PARAM, (_m, name: string) => `${name}${REDACTED}`);
}

/** Redacts every string found in a JSON-like value, leaving its shape alone. */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1)) as T;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) result[key] = redactDeep(item, depth + 1);
  return result as T;
}

/** The URL with its password replaced, for showing to people. */
export function displayUrl(url: string): string {
  return redactSecrets(url);
}
