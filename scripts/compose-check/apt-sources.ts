// The machine's own Debian mirrors, read from its apt sources at run time, so that the base image
// the compose check makes is fetched from the same place as everything else apt fetches here.
//
//   node scripts/compose-check/apt-sources.ts mirror SUITE          the URI debootstrap should use
//   node scripts/compose-check/apt-sources.ts image-sources SUITE   a deb822 file for the image
//
// Only Debian's own entries for SUITE (SUITE, SUITE-updates, SUITE-security) are kept: a
// third-party repository on the host has keys the image does not hold.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  /** The Signed-By keyring, if the entry names one. */
  signedBy: string | undefined;
  enabled: boolean;
}

/** deb822 (`.sources`): stanzas of `Field: value` separated by blank lines. */
export function parseDeb822Sources(text: string): AptSource[] {
  const stanzas = text
    .split(/\n\s*\n/)
    .map((block) => block.split('\n').filter((line) => !line.startsWith('#')))
    .filter((lines) => lines.some((line) => line.trim() !== ''));
  return stanzas.map((lines) => {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of lines) {
      if (/^\s/.test(line) && last !== undefined) {
        // A continuation line (Signed-By can hold an inline key): appended, never parsed as a field.
        fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (match === null) continue;
      last = match[1]!.toLowerCase();
      fields.set(last, match[2]!.trim());
    }
    const words = (name: string): string[] => (fields.get(name) ?? '').split(/\s+/).filter((word) => word !== '');
    const signedBy = fields.get('signed-by');
    return {
      types: words('types'),
      uris: words('uris'),
      suites: words('suites'),
      components: words('components'),
      signedBy: signedBy === undefined || signedBy.includes('\n') ? signedBy : signedBy.trim(),
      enabled: (fields.get('enabled') ?? 'yes').toLowerCase() !== 'no',
    };
  });
}

/** One-line format (`.list`): `deb [options] URI SUITE COMPONENT...`. */
export function parseOneLineSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (match === null) continue;
    const options = new Map(
      (match[2] ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((option) => option.split('=', 2) as [string, string]),
    );
    sources.push({
      types: [match[1]!],
      uris: [match[3]!],
      suites: [match[4]!],
      components: match[5]!.split(/\s+/).filter(Boolean),
      signedBy: options.get('signed-by'),
      enabled: true,
    });
  }
  return sources;
}

const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Debian's own binary entries for the suite and its updates and security suites. */
export function debianSources(sources: AptSource[], suite: string): AptSource[] {
  const wanted = new Set([suite, `${suite}-updates`, `${suite}-security`]);
  return sources
    .filter((source) => source.enabled && source.types.includes('deb'))
    .filter((source) => source.signedBy === undefined || source.signedBy === DEBIAN_KEYRING)
    .map((source) => ({ ...source, types: ['deb'], suites: source.suites.filter((name) => wanted.has(name)) }))
    .filter((source) => source.suites.length > 0 && source.uris.length > 0);
}

/** The URI that serves the suite itself with `main`: what debootstrap needs. */
export function debootstrapMirror(sources: AptSource[], suite: string): string {
  const entry = debianSources(sources, suite).find((source) => source.suites.includes(suite) && source.components.includes('main'));
  if (entry === undefined)
    throw new Error(`no Debian "${suite}" entry with component main in the machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/)`);
  return entry.uris[0]!;
}

/** The same entries as a deb822 file for the image, signed by the archive keyring the image has. */
export function renderImageSources(sources: AptSource[], suite: string): string {
  const entries = debianSources(sources, suite);
  if (entries.length === 0) throw new Error(`no Debian "${suite}" entries in the machine's apt sources`);
  return entries
    .map((source) =>
      [
        'Types: deb',
        `URIs: ${source.uris.join(' ')}`,
        `Suites: ${source.suites.join(' ')}`,
        `Components: ${source.components.join(' ')}`,
        `Signed-By: ${DEBIAN_KEYRING}`,
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

/** Every active source file of the machine: sources.list, then sources.list.d/*.list and *.sources. */
export function readMachineSources(aptDir = '/etc/apt'): AptSource[] {
  const sources: AptSource[] = [];
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const main = read(join(aptDir, 'sources.list'));
  if (main !== undefined) sources.push(...parseOneLineSources(main));
  let names: string[] = [];
  try {
    names = readdirSync(join(aptDir, 'sources.list.d')).sort();
  } catch {
    // no sources.list.d: only sources.list
  }
  for (const name of names) {
    const text = read(join(aptDir, 'sources.list.d', name));
    if (text === undefined) continue;
    if (name.endsWith('.list')) sources.push(...parseOneLineSources(text));
    else if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
  }
  return sources;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, suite = 'bookworm'] = process.argv.slice(2);
  const sources = readMachineSources();
  if (command === 'mirror') process.stdout.write(`${debootstrapMirror(sources, suite)}\n`);
  else if (command === 'image-sources') process.stdout.write(renderImageSources(sources, suite));
  else {
    process.stderr.write('usage: apt-sources.ts mirror|image-sources [SUITE]\n');
    process.exit(2);
  }
}
