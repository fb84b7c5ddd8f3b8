// H.264 and H.265 as a raw elementary stream ("Annex B": every NAL unit after a 00 00 00 01 start
// code), the one input ffmpeg's h264/hevc demuxers accept from a pipe. MP4 (and Matroska) store
// NAL units behind a length prefix instead, with the parameter sets (SPS, PPS, VPS) in the sample
// entry's avcC / hvcC box: a keyframe becomes decodable on its own once the parameter sets are put
// in front of it and every length prefix is replaced by a start code.

const START_CODE = Uint8Array.of(0, 0, 0, 1);

/** The bytes cannot be what their box says: a length runs past its end, a count is wrong. */
export class MalformedBitstreamError extends Error {
  override readonly name = 'MalformedBitstreamError';
}

export interface ParameterSets {
  /** Bytes of each NAL unit's length prefix in the samples (1, 2 or 4). */
  lengthSize: 1 | 2 | 4;
  /** VPS, SPS and PPS NAL units in the order the decoder needs them. */
  nalUnits: Uint8Array[];
}

class Cursor {
  private at = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.at + n > this.bytes.byteLength)
      throw new MalformedBitstreamError(`${this.what} ends at byte ${this.bytes.byteLength}, ${n} more needed at ${this.at}`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.at++] ?? 0;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  skip(n: number): void {
    this.need(n);
    this.at += n;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function lengthSizeOf(minusOne: number, what: string): 1 | 2 | 4 {
  const size = minusOne + 1;
  if (size === 1 || size === 2 || size === 4) return size;
  throw new MalformedBitstreamError(`${what} gives a NAL length size of ${size}`);
}

/**
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3): version(1) profile(1) compat(1)
 * level(1) 111111b+lengthSizeMinusOne(2b) 111b+numSPS(5b) {u16 len, SPS}* numPPS(1) {u16 len, PPS}*.
 */
export function parseAvcC(avcC: Uint8Array): ParameterSets {
  const c = new Cursor(avcC, 'avcC');
  if (c.u8() !== 1) throw new MalformedBitstreamError('avcC configurationVersion is not 1');
  c.skip(3);
  const lengthSize = lengthSizeOf(c.u8() & 0x03, 'avcC');
  const nalUnits: Uint8Array[] = [];
  const spsCount = c.u8() & 0x1f;
  for (let i = 0; i < spsCount; i++) nalUnits.push(c.take(c.u16()));
  const ppsCount = c.u8();
  for (let i = 0; i < ppsCount; i++) nalUnits.push(c.take(c.u16()));
  return { lengthSize, nalUnits };
}

/**
 * HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3): 21 bytes of profile and format
 * fields, then a byte ending in lengthSizeMinusOne(2b), numOfArrays(1), and per array:
 * completeness+type(1) numNalus(u16) {u16 len, NAL}*.
 */
export function parseHvcC(hvcC: Uint8Array): ParameterSets {
  const c = new Cursor(hvcC, 'hvcC');
  if (c.u8() !== 1) throw new MalformedBitstreamError('hvcC configurationVersion is not 1');
  c.skip(20);
  const lengthSize = lengthSizeOf(c.u8() & 0x03, 'hvcC');
  const nalUnits: Uint8Array[] = [];
  const arrays = c.u8();
  for (let i = 0; i < arrays; i++) {
    c.skip(1);
    const count = c.u16();
    for (let j = 0; j < count; j++) nalUnits.push(c.take(c.u16()));
  }
  return { lengthSize, nalUnits };
}

/** Splits a length-prefixed sample into its NAL units, refusing any length that runs past the sample. */
export function splitLengthPrefixed(sample: Uint8Array, lengthSize: 1 | 2 | 4): Uint8Array[] {
  const units: Uint8Array[] = [];
  const view = new DataView(sample.buffer, sample.byteOffset, sample.byteLength);
  let at = 0;
  while (at < sample.byteLength) {
    if (at + lengthSize > sample.byteLength)
      throw new MalformedBitstreamError(`a ${lengthSize}-byte NAL length at ${at} runs past the ${sample.byteLength}-byte sample`);
    const length = lengthSize === 4 ? view.getUint32(at) : lengthSize === 2 ? view.getUint16(at) : view.getUint8(at);
    at += lengthSize;
    if (length === 0 || at + length > sample.byteLength) {
      throw new MalformedBitstreamError(
        `a NAL unit of ${length} bytes at ${at} does not fit the ${sample.byteLength}-byte sample: not length-prefixed with ${lengthSize} bytes`,
      );
    }
    units.push(sample.subarray(at, at + length));
    at += length;
  }
  if (units.length === 0) throw new MalformedBitstreamError('the sample holds no NAL unit');
  return units;
}

/** Parameter sets, then the sample's NAL units, each behind a start code. */
export function toAnnexB(parameterSets: ParameterSets, sample: Uint8Array): Uint8Array {
  const units = [...parameterSets.nalUnits, ...splitLengthPrefixed(sample, parameterSets.lengthSize)];
  const out = new Uint8Array(units.reduce((sum, unit) => sum + START_CODE.byteLength + unit.byteLength, 0));
  let at = 0;
  for (const unit of units) {
    out.set(START_CODE, at);
    out.set(unit, at + START_CODE.byteLength);
    at += START_CODE.byteLength + unit.byteLength;
  }
  return out;
}

/** An RBSP from a NAL unit's payload: every emulation prevention byte (00 00 03) taken out. */
function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < nal.byteLength; i++) {
    const byte = nal[i] ?? 0;
    if (byte === 3 && i >= 2 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(byte);
  }
  return Uint8Array.from(out);
}

class BitReader {
  private bit = 0;
  constructor(private readonly bytes: Uint8Array) {}
  u(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.bytes[this.bit >> 3];
      if (byte === undefined) throw new MalformedBitstreamError('the SPS ends early');
      value = value * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return value;
  }
  /** Exp-Golomb ue(v). */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new MalformedBitstreamError('an Exp-Golomb code in the SPS is too long');
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }
}

/** Profiles whose SPS carries chroma_format_idc (H.264 §7.3.2.1.1); the others are 4:2:0. */
const H264_PROFILES_WITH_CHROMA = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** chroma_format_idc of an H.264 SPS NAL unit (header byte included): 0 is monochrome (4:0:0). */
export function h264ChromaFormatIdc(sps: Uint8Array): number {
  if ((sps[0] ?? 0) % 32 !== 7) throw new MalformedBitstreamError('not an H.264 SPS');
  const bits = new BitReader(unescapeRbsp(sps.subarray(1)));
  const profile = bits.u(8);
  bits.u(16); // constraint flags, level_idc
  bits.ue(); // seq_parameter_set_id
  return H264_PROFILES_WITH_CHROMA.has(profile) ? bits.ue() : 1;
}
