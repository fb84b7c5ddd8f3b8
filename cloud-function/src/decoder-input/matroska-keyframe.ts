// One keyframe as a Matroska file of our own making, for the codecs that have no raw elementary
// stream ffmpeg reads from a pipe with everything it needs: VP9 with its alpha plane (carried as
// a BlockAdditional beside the frame), AV1 (its configuration in CodecPrivate), FFV1 (its
// configuration in CodecPrivate), MJPEG, MPEG-4. The file holds exactly one track, one Cluster and
// one Block, built here from values the container reader took from the stored chunk; nothing else
// of the chunk reaches ffmpeg.

export interface KeyframeTrack {
  /** Matroska CodecID (`V_VP9`, `V_AV1`, `V_MS/VFW/FOURCC`...). */
  codecId: string;
  codecPrivate?: Uint8Array;
  width: number;
  height: number;
  /** 1: the frame's BlockAdditional 1 is its alpha plane (VP8/VP9). */
  alphaMode?: number;
}

export interface KeyframeAddition {
  id: number;
  bytes: Uint8Array;
}

const ID = {
  EBML: [0x1a, 0x45, 0xdf, 0xa3],
  EBMLVersion: [0x42, 0x86],
  EBMLReadVersion: [0x42, 0xf7],
  EBMLMaxIDLength: [0x42, 0xf2],
  EBMLMaxSizeLength: [0x42, 0xf3],
  DocType: [0x42, 0x82],
  DocTypeVersion: [0x42, 0x87],
  DocTypeReadVersion: [0x42, 0x85],
  Segment: [0x18, 0x53, 0x80, 0x67],
  Info: [0x15, 0x49, 0xa9, 0x66],
  TimecodeScale: [0x2a, 0xd7, 0xb1],
  Tracks: [0x16, 0x54, 0xae, 0x6b],
  TrackEntry: [0xae],
  TrackNumber: [0xd7],
  TrackUID: [0x73, 0xc5],
  TrackType: [0x83],
  CodecID: [0x86],
  CodecPrivate: [0x63, 0xa2],
  Video: [0xe0],
  PixelWidth: [0xb0],
  PixelHeight: [0xba],
  AlphaMode: [0x53, 0xc0],
  Cluster: [0x1f, 0x43, 0xb6, 0x75],
  Timecode: [0xe7],
  SimpleBlock: [0xa3],
  BlockGroup: [0xa0],
  Block: [0xa1],
  BlockAdditions: [0x75, 0xa1],
  BlockMore: [0xa6],
  BlockAddID: [0xee],
  BlockAdditional: [0xa5],
} as const;

/** An EBML size field: always 8 bytes (0x01 + 7), which holds any size and keeps the writer simple. */
function sizeField(size: number): Uint8Array {
  const out = new Uint8Array(8);
  out[0] = 0x01;
  let rest = size;
  for (let i = 7; i >= 1; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

function element(id: readonly number[], ...payload: Uint8Array[]): Uint8Array {
  const body = concat(payload);
  return concat([Uint8Array.from(id), sizeField(body.byteLength), body]);
}

function uint(id: readonly number[], value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest % 256);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return element(id, Uint8Array.from(bytes));
}

function text(id: readonly number[], value: string): Uint8Array {
  return element(id, new TextEncoder().encode(value));
}

/** A Matroska file holding `frame` as its only frame, a keyframe at time 0, with its additions. */
export function matroskaWithOneKeyframe(track: KeyframeTrack, frame: Uint8Array, additions: readonly KeyframeAddition[] = []): Uint8Array {
  const header = element(
    ID.EBML,
    uint(ID.EBMLVersion, 1),
    uint(ID.EBMLReadVersion, 1),
    uint(ID.EBMLMaxIDLength, 4),
    uint(ID.EBMLMaxSizeLength, 8),
    text(ID.DocType, 'matroska'),
    uint(ID.DocTypeVersion, 4),
    uint(ID.DocTypeReadVersion, 2),
  );
  const video = element(
    ID.Video,
    uint(ID.PixelWidth, track.width),
    uint(ID.PixelHeight, track.height),
    ...(track.alphaMode === undefined ? [] : [uint(ID.AlphaMode, track.alphaMode)]),
  );
  const entry = element(
    ID.TrackEntry,
    uint(ID.TrackNumber, 1),
    uint(ID.TrackUID, 1),
    uint(ID.TrackType, 1),
    text(ID.CodecID, track.codecId),
    ...(track.codecPrivate === undefined ? [] : [element(ID.CodecPrivate, track.codecPrivate)]),
    video,
  );
  // Track 1 (a one-byte vint), timecode 0, flags: a keyframe.
  const blockHeader = (flags: number) => Uint8Array.of(0x81, 0x00, 0x00, flags);
  const block =
    additions.length === 0
      ? element(ID.SimpleBlock, blockHeader(0x80), frame)
      : element(
          ID.BlockGroup,
          element(ID.Block, blockHeader(0x00), frame),
          element(
            ID.BlockAdditions,
            ...additions.map((addition) => element(ID.BlockMore, uint(ID.BlockAddID, addition.id), element(ID.BlockAdditional, addition.bytes))),
          ),
        );
  const cluster = element(ID.Cluster, uint(ID.Timecode, 0), block);
  const body = concat([element(ID.Info, uint(ID.TimecodeScale, 1_000_000)), element(ID.Tracks, entry), cluster]);
  return concat([header, Uint8Array.from(ID.Segment), sizeField(body.byteLength), body]);
}
