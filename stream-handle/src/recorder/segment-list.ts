/** One line of ffmpeg's CSV segment list: a chunk that ffmpeg has finished writing. */
export interface SegmentListEntry {
  fileName: string;
  /** Start and end of the chunk on the recording's timeline, in seconds from its first frame. */
  startSeconds: number;
  endSeconds: number;
}

/** Parses `name,start,end`; the name is CSV-quoted by ffmpeg when it holds commas or quotes. */
export function parseSegmentListLine(line: string): SegmentListEntry | undefined {
  const trimmed = line.trim();
  if (trimmed === '') return undefined;
  let fileName: string;
  let rest: string;
  if (trimmed.startsWith('"')) {
    const close = findClosingQuote(trimmed);
    if (close < 0) return undefined;
    fileName = trimmed.slice(1, close).replace(/""/g, '"');
    rest = trimmed.slice(close + 1);
  } else {
    const comma = trimmed.indexOf(',');
    if (comma < 0) return undefined;
    fileName = trimmed.slice(0, comma);
    rest = trimmed.slice(comma);
  }
  const match = /^,(-?[\d.]+(?:e[-+]?\d+)?),(-?[\d.]+(?:e[-+]?\d+)?)$/i.exec(rest);
  if (match === null || fileName === '') return undefined;
  const startSeconds = Number(match[1]);
  const endSeconds = Number(match[2]);
  if (!Number.isFinite(startSeconds) || !Number.isFinite(endSeconds)) return undefined;
  return { fileName, startSeconds, endSeconds };
}

function findClosingQuote(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] !== '"') continue;
    if (text[i + 1] === '"') {
      i++;
      continue;
    }
    return i;
  }
  return -1;
}

/** Splits a byte stream into lines, keeping a partial last line until the rest arrives. */
export class LineSplitter {
  private pending = '';

  push(data: string): string[] {
    this.pending += data;
    const lines = this.pending.split(/\r?\n/);
    this.pending = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : [rest];
  }
}
