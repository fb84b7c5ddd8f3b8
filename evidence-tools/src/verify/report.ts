import type { ChunkCheckReport } from './check-chain.js';
import { formatClockHistory } from './clock-history.js';

/** What `verify --json` prints: the check's findings and what was checked. */
export interface VerifyReport extends ChunkCheckReport {
  bucket: string;
  prefix: string;
  from: string | null;
  to: string | null;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The report for people: counts first, then every finding with the objects it concerns. */
export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  const line = (text = ''): void => {
    lines.push(text);
  };
  const section = (title: string, count: number, items: string[]): void => {
    line(`${title.padEnd(22)}${count}`);
    for (const item of items) line(`  - ${item}`);
  };

  const where = report.prefix === '' ? report.bucket : `${report.bucket}/${report.prefix}`;
  line(`evidence check of source ${report.source} in ${where}`);
  line(`chunk start from ${report.from ?? '(first)'} to ${report.to ?? '(last)'}`);
  line(
    `public keys: ${report.keyIds.length === 0 ? 'none given: signatures not checked' : report.keyIds.join(', ')}${report.requireSigned ? ' (signatures required)' : ''}`,
  );
  line();
  section('chunks checked', report.checked, report.checked === 0 ? ['nothing to check: no object of this source in this range'] : []);
  section('verified', report.verified, []);
  if (report.signatureNotChecked > 0) section('signature not checked', report.signatureNotChecked, ['give --public-key to check them']);
  section(report.requireSigned ? 'unsigned (problem)' : 'unsigned', report.unsigned.length, report.unsigned);
  if (report.noRecord.length > 0) section('no evidence record', report.noRecord.length, report.noRecord);
  section(
    'gaps',
    report.gaps.length,
    report.gaps.map((gap) => {
      const sequences = gap.missingCount === 1 ? `sequence ${gap.firstMissingSequence}` : `sequences ${gap.firstMissingSequence}-${gap.lastMissingSequence}`;
      const why = gap.chainIntact ? 'never chained by the recorder' : 'chained chunks are missing';
      const present = gap.presentWithoutRecord.length === 0 ? '' : `; present without a valid record: ${gap.presentWithoutRecord.join(', ')}`;
      return `${sequences} (${plural(gap.missingCount, 'chunk')}) from ${gap.from} to ${gap.to}, between ${gap.after} and ${gap.before} (${why}${present})`;
    }),
  );
  section(
    'broken links',
    report.brokenLinks.length,
    report.brokenLinks.map((link) => `${link.object}: ${link.reason}`),
  );
  section(
    'bad signatures',
    report.badSignatures.length,
    report.badSignatures.map((finding) => `${finding.object}: ${finding.problem}: ${finding.detail}`),
  );
  section(
    'tampered objects',
    report.tampered.length,
    report.tampered.map((finding) => `${finding.object}: ${finding.reasons.join('; ')}`),
  );
  section(
    'replays',
    report.replays.length,
    report.replays.map((replay) =>
      replay.kind === 'same-sequence'
        ? `sequence ${replay.sequence ?? '?'} claimed by ${replay.objects.join(' and ')}`
        : `the same bytes (sha256 ${replay.sha256 ?? '?'}) under ${replay.objects.join(' and ')}`,
    ),
  );
  line();
  line('time');
  for (const item of formatClockHistory(report.clocks)) line(`  - ${item}`);
  line();
  line(report.ok ? 'RESULT: OK, no problems found' : `RESULT: FAILED, ${plural(report.problems, 'problem')}`);
  return `${lines.join('\n')}\n`;
}
