/**
 * Cloud Storage's rules for a bucket name: 3-63 characters of lower-case letters, digits, '-',
 * '_' and '.', starting and ending with a letter or digit; with dots, up to 222 characters, each
 * dot-separated part at most 63, and no '..'. Undefined when the name is one; else what is wrong.
 */
export function bucketNameProblem(name: string): string | undefined {
  const rule = `lower-case letters, digits, '-', '_' and '.', 3-63 characters (up to 222 with dots, 63 between them), a letter or digit at each end`;
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name) || name.length < 3) return `"${name}" is not a Cloud Storage bucket name: ${rule}`;
  const parts = name.split('.');
  const tooLong = name.includes('.') ? name.length > 222 || parts.some((part) => part.length > 63) : name.length > 63;
  if (tooLong || name.includes('..')) return `"${name}" is not a Cloud Storage bucket name: ${rule}`;
  return undefined;
}
