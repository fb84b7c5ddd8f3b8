// Camera URLs carry passwords (rtsp://user:secret@host/...). Every string that may reach a
// log, a job, an object's metadata or an error goes through here first.

// The password runs to the last '@' before the path: ffmpeg and URL parsers read an unencoded '@'
// in a password the same way. It may hold any other character a person types, quotes included
// (`it's-S3cret7`): only '/' and white space end it. Over-redacting a few characters of a malformed
// URL is the price of never printing a password.
const USERINFO_IN_URL = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/\s]*)@/gi;
// Mistyped URLs (`rtsp:/admin:pw@cam`, or no scheme at all) still carry `user:password@`.
const BARE_USERINFO = /([^\s/@:'"]+):([^\s/]+)@(?=[^\s/@]+)/g;
// A value runs to '&' or white space; a quote just before those (or the end) closes the quoted
// URL around it rather than belonging to the value.
const SECRET_QUERY_PARAM = /([?&](?:password|passwd|pwd|pass|token|secret|api_key|apikey|upload_id)=)[^&\s]*?(?=['"]?(?:[\s:,;)\]}]|$)|&)/gi;

/** Secrets this process was given (a Redis password, the board's), replaced wherever they appear. */
const knownSecrets = new Set<string>();
/** Shorter values would redact ordinary words; their URLs are still caught by the patterns. */
const MIN_KNOWN_SECRET_LENGTH = 6;

/**
 * Registers a secret this process holds, so that it is redacted in every log line even where no
 * URL surrounds it (a client library printing the arguments of Redis's AUTH command, say).
 */
export function redactEverywhere(secret: string | undefined): void {
  if (secret !== undefined && secret.length >= MIN_KNOWN_SECRET_LENGTH) knownSecrets.add(secret);
}

/** The password of a URL, decoded as a client would send it, for redactEverywhere. */
export function passwordOfUrl(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

export const REDACTED = '***';

/** Replaces the password in every URL inside `text` and secret query parameters with ***. */
export function redactSecrets(text: string): string {
  let redacted = text
    .replace(USERINFO_IN_URL, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`)
    .replace(BARE_USERINFO, (_m, user: string) => `${user}:${REDACTED}@`)
    .replace(SECRET_QUERY_PARAM, (_m, name: string) => `${name}${REDACTED}`);
  for (const secret of knownSecrets) if (redacted.includes(secret)) redacted = redacted.split(secret).join(REDACTED);
  return redacted;
}

/** Redacts every string found in a JSON-like value, leaving its shape alone. */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return (value as unknown[]).map((item) => redactDeep(item, depth + 1)) as T;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) result[key] = redactDeep(item, depth + 1);
  return result as T;
}

/** The URL with its password replaced, for showing to people. */
export function displayUrl(url: string): string {
  return redactSecrets(url);
}
