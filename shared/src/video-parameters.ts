// H.264 and H.265 parameter sets, where a chunk keeps them: the sample entry's avcC / hvcC (or
// Matroska's CodecPrivate, which holds the same records), and in-band, in front of keyframes, as
// cameras send them. A keyframe whose SPS is not the header's means the stream's parameters
// (resolution, profile...) changed: the chunk's header no longer describes its frames.

export type ParameterSetCodec = 'h264' | 'hevc';

export interface ConfigurationRecord {
  /** Bytes of each NAL unit's length prefix in the samples (1, 2 or 4). */
  lengthSize: 1 | 2 | 4;
  /** The sequence parameter sets it carries. */
  sps: Uint8Array[];
}

class Reader {
  at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  u8(): number {
    const value = this.bytes[this.at];
    if (value === undefined) throw new Error('configuration record ends early');
    this.at++;
    return value;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.byteLength) throw new Error('configuration record ends early');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function lengthSize(value: number): 1 | 2 | 4 {
  const size = (value & 0x03) + 1;
  if (size === 3) throw new Error('configuration record gives a NAL length size of 3');
  return size as 1 | 2 | 4;
}

/** avcC (ISO/IEC 14496-15 §5.3.3) or hvcC (§8.3.3): the NAL length size and the SPSs. */
export function parseConfigurationRecord(codec: ParameterSetCodec, record: Uint8Array): ConfigurationRecord {
  const r = new Reader(record);
  if (r.u8() !== 1) throw new Error(`${codec === 'h264' ? 'avcC' : 'hvcC'} configurationVersion is not 1`);
  const sps: Uint8Array[] = [];
  if (codec === 'h264') {
    r.take(3);
    const size = lengthSize(r.u8());
    const count = r.u8() & 0x1f;
    for (let i = 0; i < count; i++) sps.push(r.take(r.u16()));
    return { lengthSize: size, sps };
  }
  r.take(20);
  const size = lengthSize(r.u8());
  const arrays = r.u8();
  for (let i = 0; i < arrays; i++) {
    const type = r.u8() & 0x3f;
    const count = r.u16();
    for (let j = 0; j < count; j++) {
      const nal = r.take(r.u16());
      if (type === 33) sps.push(nal);
    }
  }
  return { lengthSize: size, sps };
}

export function isSps(codec: ParameterSetCodec, nal: Uint8Array): boolean {
  const header = nal[0] ?? 0;
  return codec === 'h264' ? (header & 0x1f) === 7 : ((header >> 1) & 0x3f) === 33;
}

/** The SPS NAL units inside a length-prefixed sample; stops quietly at a length that does not fit. */
export function inBandSps(codec: ParameterSetCodec, sample: Uint8Array, size: 1 | 2 | 4): Uint8Array[] {
  const found: Uint8Array[] = [];
  let at = 0;
  while (at + size <= sample.byteLength) {
    let length = 0;
    for (let i = 0; i < size; i++) length = length * 256 + (sample[at + i] ?? 0);
    at += size;
    if (length === 0 || at + length > sample.byteLength) break;
    const nal = sample.subarray(at, at + length);
    if (isSps(codec, nal)) found.push(nal);
    at += length;
  }
  return found;
}

/** The same parameter set, whatever zero bytes trail it. */
export function sameParameterSet(a: Uint8Array, b: Uint8Array): boolean {
  const trim = (x: Uint8Array) => {
    let end = x.byteLength;
    while (end > 0 && x[end - 1] === 0) end--;
    return x.subarray(0, end);
  };
  const ta = trim(a);
  const tb = trim(b);
  return ta.byteLength === tb.byteLength && ta.every((byte, i) => byte === tb[i]);
}

/** What an SPS says the pictures are: a change in any of these makes a chunk's header wrong. */
export interface SequenceParameters {
  profile: number;
  chromaFormat: number;
  bitDepth: number;
  width: number;
  height: number;
}

/** Emulation prevention bytes (00 00 03) taken out: the SPS's bits as written. */
function rbsp(nal: Uint8Array, headerBytes: number): Uint8Array {
  const out: number[] = [];
  for (let i = headerBytes; i < nal.byteLength; i++) {
    const byte = nal[i] ?? 0;
    if (byte === 3 && out.length >= 2 && out[out.length - 1] === 0 && out[out.length - 2] === 0) continue;
    out.push(byte);
  }
  return Uint8Array.from(out);
}

class Bits {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  u(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.bytes[this.at >> 3];
      if (byte === undefined) throw new Error('the SPS ends early');
      value = value * 2 + ((byte >> (7 - (this.at & 7))) & 1);
      this.at++;
    }
    return value;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new Error('an Exp-Golomb code in the SPS is too long');
    return 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** H.264 SPS (§7.3.2.1.1) up to the picture size and cropping. */
function h264Parameters(nal: Uint8Array): SequenceParameters {
  const b = new Bits(rbsp(nal, 1));
  const profile = b.u(8);
  b.u(16);
  b.ue();
  let chromaFormat = 1;
  let bitDepth = 8;
  if (H264_HIGH_PROFILES.has(profile)) {
    chromaFormat = b.ue();
    if (chromaFormat === 3) b.u(1);
    bitDepth = b.ue() + 8;
    b.ue();
    b.u(1);
    if (b.u(1) === 1) {
      for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
        if (b.u(1) === 0) continue;
        const size = i < 6 ? 16 : 64;
        let last = 8;
        let next = 8;
        for (let j = 0; j < size && next !== 0; j++) {
          next = (last + b.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  b.ue(); // log2_max_frame_num_minus4
  const pocType = b.ue();
  if (pocType === 0) b.ue();
  else if (pocType === 1) {
    b.u(1);
    b.se();
    b.se();
    const cycle = b.ue();
    for (let i = 0; i < cycle; i++) b.se();
  }
  b.ue(); // max_num_ref_frames
  b.u(1);
  const widthInMbs = b.ue() + 1;
  const heightInMapUnits = b.ue() + 1;
  const frameMbsOnly = b.u(1);
  if (frameMbsOnly === 0) b.u(1);
  b.u(1);
  let width = widthInMbs * 16;
  let height = (2 - frameMbsOnly) * heightInMapUnits * 16;
  if (b.u(1) === 1) {
    const [left, right, top, bottom] = [b.ue(), b.ue(), b.ue(), b.ue()];
    const cropX = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1;
    const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
    width -= (left + right) * cropX;
    height -= (top + bottom) * cropY;
  }
  return { profile, chromaFormat, bitDepth, width, height };
}

/** H.265 SPS (§7.3.2.2) up to the picture size. */
function hevcParameters(nal: Uint8Array): SequenceParameters {
  const b = new Bits(rbsp(nal, 2));
  b.u(4);
  const maxSubLayersMinus1 = b.u(3);
  b.u(1);
  // profile_tier_level: general profile space, tier and idc, then 32 + 48 bits, then the level.
  b.u(2);
  b.u(1);
  const profile = b.u(5);
  b.u(32);
  b.u(32);
  b.u(16);
  b.u(8);
  const subLayers: [number, number][] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) subLayers.push([b.u(1), b.u(1)]);
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) b.u(2);
  for (const [profilePresent, levelPresent] of subLayers) {
    if (profilePresent === 1) {
      b.u(32);
      b.u(32);
      b.u(24);
    }
    if (levelPresent === 1) b.u(8);
  }
  b.ue(); // sps_seq_parameter_set_id
  const chromaFormat = b.ue();
  if (chromaFormat === 3) b.u(1);
  let width = b.ue();
  let height = b.ue();
  if (b.u(1) === 1) {
    const [left, right, top, bottom] = [b.ue(), b.ue(), b.ue(), b.ue()];
    const subX = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1;
    const subY = chromaFormat === 1 ? 2 : 1;
    width -= (left + right) * subX;
    height -= (top + bottom) * subY;
  }
  const bitDepth = b.ue() + 8;
  return { profile, chromaFormat, bitDepth, width, height };
}

/** What an SPS says, or undefined when it cannot be read (then its bytes are compared instead). */
export function sequenceParameters(codec: ParameterSetCodec, sps: Uint8Array): SequenceParameters | undefined {
  try {
    return codec === 'h264' ? h264Parameters(sps) : hevcParameters(sps);
  } catch {
    return undefined;
  }
}

/** Whether two SPSs describe the same pictures (size, profile, chroma format, bit depth). */
export function sameSequence(codec: ParameterSetCodec, a: Uint8Array, b: Uint8Array): boolean {
  const pa = sequenceParameters(codec, a);
  const pb = sequenceParameters(codec, b);
  if (pa === undefined || pb === undefined) return sameParameterSet(a, b);
  return pa.profile === pb.profile && pa.chromaFormat === pb.chromaFormat && pa.bitDepth === pb.bitDepth && pa.width === pb.width && pa.height === pb.height;
}
