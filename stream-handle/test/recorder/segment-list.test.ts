import { describe, expect, it } from 'vitest';
import { LineSplitter, parseSegmentListLine } from '../../src/recorder/segment-list.js';

describe('parseSegmentListLine', () => {
  it('parses a plain name,start,end line', () => {
    expect(parseSegmentListLine('cam0-0000000000.mp4,0.000000,3.000000')).toEqual({ fileName: 'cam0-0000000000.mp4', startSeconds: 0, endSeconds: 3 });
    expect(parseSegmentListLine('cam0-0000000001.mp4,3.000000,6.033333')).toEqual({ fileName: 'cam0-0000000001.mp4', startSeconds: 3, endSeconds: 6.033333 });
  });

  it('ignores surrounding whitespace and a trailing CR', () => {
    expect(parseSegmentListLine('  cam0-0000000002.mp4,6,9\r')).toEqual({ fileName: 'cam0-0000000002.mp4', startSeconds: 6, endSeconds: 9 });
  });

  it('unquotes a CSV-quoted name holding commas and doubled quotes', () => {
    expect(parseSegmentListLine('"a,b.mp4",0.000000,3.000000')).toEqual({ fileName: 'a,b.mp4', startSeconds: 0, endSeconds: 3 });
    expect(parseSegmentListLine('"say ""hi"", ok.mp4",1.5,4.5')).toEqual({ fileName: 'say "hi", ok.mp4', startSeconds: 1.5, endSeconds: 4.5 });
  });

  it('reads times in scientific notation and negative times', () => {
    expect(parseSegmentListLine('x.mp4,1.2e-05,3E+00')).toEqual({ fileName: 'x.mp4', startSeconds: 0.000012, endSeconds: 3 });
    expect(parseSegmentListLine('x.mp4,-0.066667,2.933333')).toEqual({ fileName: 'x.mp4', startSeconds: -0.066667, endSeconds: 2.933333 });
  });

  it.each([
    ['an empty line', ''],
    ['a blank line', '   \t '],
    ['a name only', 'cam0-0000000000.mp4'],
    ['a missing end time', 'x.mp4,0.0'],
    ['an extra field', 'x.mp4,0.0,3.0,9'],
    ['words for times', 'x.mp4,start,end'],
    ['a time with two dots', 'x.mp4,1.2.3,4'],
    ['a lone dot for a time', 'x.mp4,.,3'],
    ['an empty name', ',0.0,3.0'],
    ['an empty quoted name', '"",0.0,3.0'],
    ['an unterminated quote', '"x.mp4,0.0,3.0'],
    ['ffmpeg log noise', "[segment @ 0x55d1] Opening 'x.mp4' for writing"],
  ])('is undefined for %s', (_label, line) => {
    expect(parseSegmentListLine(line)).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  it('returns whole lines and keeps a partial line for the next chunk', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('a.mp4,0,3\nb.mp4,3,')).toEqual(['a.mp4,0,3']);
    expect(splitter.push('6\n')).toEqual(['b.mp4,3,6']);
    expect(splitter.push('')).toEqual([]);
  });

  it('splits CRLF line ends, also when CR and LF arrive in different chunks', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('a\r\nb\r')).toEqual(['a']);
    expect(splitter.push('\nc')).toEqual(['b']);
    expect(splitter.flush()).toEqual(['c']);
  });

  it('reassembles a line delivered one character at a time', () => {
    const splitter = new LineSplitter();
    const out: string[] = [];
    for (const ch of 'x.mp4,0,3\ny.mp4,3,6\n') out.push(...splitter.push(ch));
    expect(out).toEqual(['x.mp4,0,3', 'y.mp4,3,6']);
  });

  it('keeps empty lines between line ends', () => {
    expect(new LineSplitter().push('a\n\nb\n')).toEqual(['a', '', 'b']);
  });

  it('flush returns the unterminated rest once, and nothing when there is none', () => {
    const splitter = new LineSplitter();
    splitter.push('tail');
    expect(splitter.flush()).toEqual(['tail']);
    expect(splitter.flush()).toEqual([]);
  });
});
