/**
 * safetensors reader/writer with the Rust reference's validation, in its order
 * (huggingface/safetensors `tensor.rs` `read_metadata` + `Metadata::validate`; see docs/reliability.md, "safetensors"):
 *   1 HeaderTooSmall  2 HeaderTooLarge  3 InvalidHeaderLength  4 InvalidHeader (UTF-8) /
 *   InvalidHeaderDeserialization (JSON shape)  5 InvalidOffset  6 ValidationOverflow / MisalignedSlice /
 *   TensorInvalidInfo  7 MetadataIncompleteBuffer.
 * One deliberate difference: duplicate keys (tensor names included) are rejected, as the format's README
 * requires, where the reference silently keeps the last one. Dims above 2^53 that pass the reference's
 * checks (only possible in zero-size tensors) are rejected too, since shapes are JS numbers.
 * Every header check runs before any allocation proportional to the claimed sizes.
 */
import { open } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { asU64, isWellFormedUnicode, parseStrictJson, StrictJsonError, type JsonValue } from './json.js';

/** Every dtype the reference knows (`tensor.rs` `Dtype`), case-sensitive. */
export const DTYPE_BITS = {
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type DType = keyof typeof DTYPE_BITS;

export function isDType(s: string): s is DType {
  return Object.hasOwn(DTYPE_BITS, s);
}

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Raw little-endian bytes, row-major. */
  readonly data: Uint8Array;
}

/**
 * A tensor whose bytes are held in several parts (row-major, concatenated in order): a JS typed array
 * holds at most 4 GiB (Node 20), so a larger tensor (Gemma 4 E2B's 4.7 GB BF16 per-layer embedding
 * table) can be neither one HostTensor nor one read. Written exactly like a HostTensor.
 */
export interface ChunkedHostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly parts: readonly Uint8Array[];
}

/** What the writers take: one buffer or parts. */
export type StoredTensor = HostTensor | ChunkedHostTensor;

/** The parts of a stored tensor's bytes, in order. */
export function tensorParts(t: StoredTensor): readonly Uint8Array[] {
  return 'parts' in t ? t.parts : [t.data];
}

/** The reference's error names, so tests can compare verdicts with it one to one. */
export type SafetensorsErrorKind =
  | 'HeaderTooSmall'
  | 'HeaderTooLarge'
  | 'InvalidHeaderLength'
  | 'InvalidHeader'
  | 'InvalidHeaderDeserialization'
  | 'DuplicateTensorName'
  | 'InvalidOffset'
  | 'ValidationOverflow'
  | 'MisalignedSlice'
  | 'TensorInvalidInfo'
  | 'MetadataIncompleteBuffer'
  | 'UnsupportedShape'
  | 'IoError';

/** A malformed safetensors file; `kind` is the reference's error name, `file`/`tensor` say where. */
export class SafetensorsError extends CheckpointError {
  constructor(
    readonly kind: SafetensorsErrorKind,
    message: string,
    file?: string,
    tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${message}`, file, tensor, options);
  }
}

export const MAX_HEADER_SIZE = 100_000_000;

/** One header entry; offsets are relative to the start of the data buffer. */
export interface SafetensorsEntry {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly file: string;
  /** N, the JSON header length in bytes. */
  readonly headerSize: number;
  /** Absolute file offset of the data buffer (8 + N). */
  readonly dataStart: number;
  readonly metadata: Record<string, string>;
  /** In offset order (= file order). */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * Validates the 8-byte prefix: returns N or throws (steps 1–3). `fileSize` is the whole file length.
 */
function checkPrefix(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) throw new SafetensorsError('HeaderTooSmall', `file has ${fileSize} bytes, fewer than 8`, file);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError('HeaderTooLarge', `header length ${n} > ${MAX_HEADER_SIZE}`, file);
  if (n + 8n > BigInt(fileSize)) {
    throw new SafetensorsError('InvalidHeaderLength', `header length ${n} runs past the end of the ${fileSize}-byte file`, file);
  }
  return Number(n);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface RawEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly bigint[];
  readonly begin: bigint;
  readonly end: bigint;
}

function deserializationError(message: string, file: string, tensor?: string, cause?: unknown): SafetensorsError {
  return new SafetensorsError('InvalidHeaderDeserialization', message, file, tensor, cause ? { cause } : undefined);
}

/** Step 4: UTF-8, JSON, and the expected shape of the JSON (serde's `HashMetadata`). */
function parseHeaderJson(bytes: Uint8Array, file: string): { metadata: Record<string, string>; raw: RawEntry[] } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    throw new SafetensorsError('InvalidHeader', 'header is not valid UTF-8', file, undefined, { cause: err });
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text);
  } catch (err) {
    if (err instanceof StrictJsonError && err.duplicateKey !== undefined) {
      throw new SafetensorsError('DuplicateTensorName', `duplicate key in header (${err.message})`, file, err.duplicateKey, { cause: err });
    }
    throw deserializationError(`header is not valid JSON: ${(err as Error).message}`, file, undefined, err);
  }
  if (root.kind !== 'object') throw deserializationError(`header must be a JSON object, got ${root.kind}`, file);
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const raw: RawEntry[] = [];
  for (const [name, v] of root.entries) {
    if (name === '__metadata__') {
      if (v.kind === 'null') continue;
      if (v.kind !== 'object') throw deserializationError(`__metadata__ must be an object of strings, got ${v.kind}`, file);
      for (const [k, mv] of v.entries) {
        if (mv.kind !== 'string') throw deserializationError(`__metadata__[${JSON.stringify(k)}] must be a string, got ${mv.kind}`, file);
        metadata[k] = mv.value;
      }
      continue;
    }
    if (v.kind !== 'object') throw deserializationError(`entry must be an object, got ${v.kind}`, file, name);
    const dt = v.entries.get('dtype');
    const sh = v.entries.get('shape');
    const off = v.entries.get('data_offsets');
    if (!dt) throw deserializationError('missing field `dtype`', file, name);
    if (!sh) throw deserializationError('missing field `shape`', file, name);
    if (!off) throw deserializationError('missing field `data_offsets`', file, name);
    if (dt.kind !== 'string' || !isDType(dt.value)) {
      throw deserializationError(`unknown dtype ${dt.kind === 'string' ? JSON.stringify(dt.value) : dt.kind}`, file, name);
    }
    if (sh.kind !== 'array') throw deserializationError(`shape must be an array, got ${sh.kind}`, file, name);
    const dims = sh.items.map((d, i) => {
      const n = asU64(d);
      if (n === undefined) throw deserializationError(`shape[${i}] = ${d.kind === 'number' ? d.raw : d.kind} is not a non-negative integer`, file, name);
      return n;
    });
    if (off.kind !== 'array' || off.items.length !== 2) {
      throw deserializationError(`data_offsets must be an array of 2 integers`, file, name);
    }
    const [b, e] = off.items.map((o) => asU64(o));
    if (b === undefined || e === undefined) throw deserializationError('data_offsets must be non-negative integers', file, name);
    raw.push({ name, dtype: dt.value, dims, begin: b, end: e });
  }
  return { metadata, raw };
}

/** Steps 5–7 on a parsed header; returns entries in offset order. */
function validateEntries(raw: RawEntry[], headerSize: number, fileSize: number, file: string): Map<string, SafetensorsEntry> {
  const sorted = [...raw].sort((a, b) => (a.begin !== b.begin ? (a.begin < b.begin ? -1 : 1) : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  let start = 0n;
  for (const t of sorted) {
    if (t.begin !== start || t.end < t.begin) {
      throw new SafetensorsError('InvalidOffset', `data_offsets [${t.begin}, ${t.end}] must start at ${start} (contiguous, no overlap or gap)`, file, t.name);
    }
    start = t.end;
    let elements = 1n;
    for (const d of t.dims) {
      elements *= d;
      if (elements > U64_MAX) throw new SafetensorsError('ValidationOverflow', `shape [${t.dims.join(', ')}] overflows`, file, t.name);
    }
    const bits = elements * BigInt(DTYPE_BITS[t.dtype]);
    if (bits > U64_MAX) throw new SafetensorsError('ValidationOverflow', `shape [${t.dims.join(', ')}] x ${t.dtype} overflows`, file, t.name);
    if (bits % 8n !== 0n) throw new SafetensorsError('MisalignedSlice', `${elements} ${t.dtype} elements are not a whole number of bytes`, file, t.name);
    if (t.end - t.begin !== bits / 8n) {
      throw new SafetensorsError(
        'TensorInvalidInfo',
        `shape [${t.dims.join(', ')}] ${t.dtype} needs ${bits / 8n} bytes but data_offsets span ${t.end - t.begin}`,
        file,
        t.name,
      );
    }
  }
  if (start + 8n + BigInt(headerSize) !== BigInt(fileSize)) {
    throw new SafetensorsError(
      'MetadataIncompleteBuffer',
      `tensors cover ${start} data bytes, file has ${fileSize - 8 - headerSize} after the header`,
      file,
    );
  }
  const entries = new Map<string, SafetensorsEntry>();
  for (const t of sorted) {
    const shape = t.dims.map((d) => {
      if (d > BigInt(Number.MAX_SAFE_INTEGER)) throw new SafetensorsError('UnsupportedShape', `dimension ${d} exceeds 2^53`, file, t.name);
      return Number(d);
    });
    entries.set(t.name, { dtype: t.dtype, shape, begin: Number(t.begin), end: Number(t.end) });
  }
  return entries;
}

function parseHeaderBytes(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const { metadata, raw } = parseHeaderJson(headerBytes, file);
  const headerSize = headerBytes.length;
  const entries = validateEntries(raw, headerSize, fileSize, file);
  return { file, headerSize, dataStart: 8 + headerSize, metadata, entries };
}

/** Validates a whole in-memory safetensors file (used for fuzzing and tests). */
export function parseSafetensors(buf: Uint8Array, file = '<buffer>'): { metadata: Record<string, string>; tensors: Map<string, HostTensor> } {
  const n = checkPrefix(buf.subarray(0, 8), buf.length, file);
  const header = parseHeaderBytes(buf.subarray(8, 8 + n), buf.length, file);
  const tensors = new Map<string, HostTensor>();
  for (const [name, e] of header.entries) {
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: buf.slice(header.dataStart + e.begin, header.dataStart + e.end) });
  }
  return { metadata: header.metadata, tensors };
}

function ioError(err: unknown, file: string, tensor?: string): SafetensorsError {
  return new SafetensorsError('IoError', (err as Error).message, file, tensor, { cause: err });
}

/** Reads and fully validates the header of a file, without reading tensor data. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const fh = await openFile(file);
  try {
    const { size } = await fh.stat();
    const prefix = new Uint8Array(8);
    if (size >= 8) await readExactly(fh, prefix, 0, file);
    const n = checkPrefix(prefix, size, file);
    const headerBytes = new Uint8Array(n);
    await readExactly(fh, headerBytes, 8, file);
    return parseHeaderBytes(headerBytes, size, file);
  } finally {
    await fh.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof open>>;

async function openFile(file: string, tensor?: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (err) {
    throw ioError(err, file, tensor);
  }
}

/** The file's size, checked against its validated header (a file rewritten since would read garbage). */
async function checkUnchangedSize(fh: FileHandle, header: SafetensorsHeader, tensor?: string): Promise<number> {
  const { size } = await fh.stat();
  const expected = header.dataStart + (lastEnd(header) ?? 0);
  if (size !== expected)
    throw new SafetensorsError('MetadataIncompleteBuffer', `file changed size since its header was read (${size} != ${expected})`, header.file, tensor);
  return size;
}

async function readExactly(fh: FileHandle, into: Uint8Array, position: number, file: string, tensor?: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(into, done, into.length - done, position + done));
    } catch (err) {
      throw ioError(err, file, tensor);
    }
    if (bytesRead === 0) throw new SafetensorsError('IoError', `file shrank while reading (${done}/${into.length} bytes at ${position})`, file, tensor);
    done += bytesRead;
  }
}

/** Reads one tensor's bytes given a validated header (checks that the file did not change size since). */
export async function readTensorFromHeader(header: SafetensorsHeader, name: string): Promise<HostTensor> {
  const e = header.entries.get(name);
  if (!e) throw new SafetensorsError('IoError', 'tensor not found in file', header.file, name);
  const fh = await openFile(header.file, name);
  try {
    await checkUnchangedSize(fh, header, name);
    const data = new Uint8Array(e.end - e.begin);
    await readExactly(fh, data, header.dataStart + e.begin, header.file, name);
    return { dtype: e.dtype, shape: e.shape, data };
  } finally {
    await fh.close();
  }
}

/**
 * Reads `length` bytes of one tensor starting `start` bytes into its data, given a validated header
 * (checks the range and that the file did not change size). For tensors read in parts (ChunkedHostTensor).
 */
export async function readTensorBytesFromHeader(header: SafetensorsHeader, name: string, start: number, length: number): Promise<Uint8Array> {
  const e = header.entries.get(name);
  if (!e) throw new SafetensorsError('IoError', 'tensor not found in file', header.file, name);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > e.end - e.begin)
    throw new CheckpointError(`byte range [${start}, ${start + length}) outside the tensor's ${e.end - e.begin} bytes`, header.file, name);
  const fh = await openFile(header.file, name);
  try {
    await checkUnchangedSize(fh, header, name);
    const data = new Uint8Array(length);
    await readExactly(fh, data, header.dataStart + e.begin + start, header.file, name);
    return data;
  } finally {
    await fh.close();
  }
}

function lastEnd(header: SafetensorsHeader): number | undefined {
  let end: number | undefined;
  for (const e of header.entries.values()) end = e.end;
  return end;
}

/** Reads and validates a whole file into memory. */
export async function readSafetensors(file: string): Promise<{ metadata: Record<string, string>; tensors: Map<string, HostTensor> }> {
  const header = await readSafetensorsHeader(file);
  let buf: Uint8Array;
  const fh = await openFile(file);
  try {
    buf = new Uint8Array((await checkUnchangedSize(fh, header)) - header.dataStart);
    await readExactly(fh, buf, header.dataStart, file);
  } finally {
    await fh.close();
  }
  const tensors = new Map<string, HostTensor>();
  for (const [name, e] of header.entries) tensors.set(name, { dtype: e.dtype, shape: e.shape, data: buf.subarray(e.begin, e.end) });
  return { metadata: header.metadata, tensors };
}

/** Number of bytes a tensor of this dtype and shape occupies; throws for non-byte-aligned sizes. */
export function byteLength(dtype: DType, shape: readonly number[], file?: string, name?: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new CheckpointError(`bad dimension ${d} in shape [${shape.join(', ')}]`, file, name);
    n *= d;
  }
  const bits = n * DTYPE_BITS[dtype];
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) throw new CheckpointError(`${n} ${dtype} elements are not a whole number of bytes`, file, name);
  return bits / 8;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The bytes of a safetensors file as chunks: header JSON compact, `__metadata__` first, tensors sorted by
 * name (UTF-8 byte order) and laid out in that order, header padded with spaces so data starts 8-aligned.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, StoredTensor>,
  metadata?: Record<string, string>,
  file?: string,
): Uint8Array[] {
  const names = [...tensors.keys()].sort(compareBytes);
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const m = Object.keys(metadata)
      .sort(compareBytes)
      .map((k) => {
        const v = metadata[k];
        if (typeof v !== 'string') throw new CheckpointError(`__metadata__[${JSON.stringify(k)}] must be a string`, file);
        return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      });
    parts.push(`"__metadata__":{${m.join(',')}}`);
  }
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const t = tensors.get(name) as StoredTensor;
    if (name === '__metadata__') throw new CheckpointError('reserved tensor name', file, name);
    if (!isWellFormedUnicode(name)) throw new CheckpointError('tensor name is not valid Unicode', file, name);
    if (!isDType(t.dtype)) throw new CheckpointError(`unknown dtype ${String(t.dtype)}`, file, name);
    const len = byteLength(t.dtype, t.shape, file, name);
    const bytes = tensorParts(t);
    const have = bytes.reduce((a, p) => a + p.length, 0);
    if (have !== len) {
      throw new CheckpointError(`shape [${t.shape.join(', ')}] ${t.dtype} needs ${len} bytes, data has ${have}`, file, name);
    }
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + len}]}`);
    offset += len;
    for (const b of bytes) chunks.push(b); // not push(...): a spread of many parts could overflow the stack
  }
  let header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
  return [prefix, header, ...chunks];
}

/** Writes a safetensors file atomically (temp + fsync + rename). */
export async function writeSafetensors(file: string, tensors: ReadonlyMap<string, StoredTensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata, file));
}

// ---------------------------------------------------------------------------------------------
// dtype conversion

let f16Table: Float32Array | undefined;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Decoder tables for the 8-bit float formats (value of every byte). */
function f8Table(dtype: 'F8_E4M3' | 'F8_E5M2' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ'): Float32Array {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    switch (dtype) {
      case 'F8_E5M2': // IEEE-like, bias 15, inf and NaN
        t[b] = halfToFloat(b << 8);
        break;
      case 'F8_E4M3': {
        // "fn": bias 7, no infinities, S.1111.111 is NaN
        const e = (b >> 3) & 0xf;
        const m = b & 7;
        t[b] = e === 15 && m === 7 ? NaN : e === 0 ? sign * m * 2 ** -9 : sign * (1 + m / 8) * 2 ** (e - 7);
        break;
      }
      case 'F8_E4M3FNUZ': {
        // bias 8, 0x80 is the only NaN, no negative zero
        const e = (b >> 3) & 0xf;
        const m = b & 7;
        t[b] = b === 0x80 ? NaN : e === 0 ? sign * m * 2 ** -10 : sign * (1 + m / 8) * 2 ** (e - 8);
        break;
      }
      case 'F8_E5M2FNUZ': {
        const e = (b >> 2) & 0x1f;
        const m = b & 3;
        t[b] = b === 0x80 ? NaN : e === 0 ? sign * m * 2 ** -17 : sign * (1 + m / 4) * 2 ** (e - 16);
        break;
      }
      case 'F8_E8M0': // unsigned power of two scale, 0xff is NaN
        t[b] = b === 0xff ? NaN : 2 ** (b - 127);
        break;
    }
  }
  return t;
}

const f8Tables = new Map<DType, Float32Array>();

function alignedCopy(data: Uint8Array): ArrayBuffer {
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

/** Element count implied by a tensor's shape. */
export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Dtypes whose values a JS typed array reads as numbers, converted to float32 by value. */
const NUMBER_VIEWS = {
  F64: Float64Array,
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  U16: Uint16Array,
  I16: Int16Array,
  U32: Uint32Array,
  I32: Int32Array,
} as const;

/**
 * Converts to float32: floats exactly where float32 can (F16, BF16, F8 exactly; F64 rounded), integers by value
 * (64-bit ones rounded to float32). F4/F6 packing and complex C64 have no float32 meaning here and throw.
 */
export function toFloat32(t: HostTensor, name?: string): Float32Array {
  const n = numElements(t.shape);
  const expected = (n * DTYPE_BITS[t.dtype]) / 8;
  if (t.data.length !== expected) {
    throw new CheckpointError(`shape [${t.shape.join(', ')}] ${t.dtype} needs ${expected} bytes, data has ${t.data.length}`, undefined, name);
  }
  const buf = alignedCopy(t.data);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F16': {
      f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
      const src = new Uint16Array(buf);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16Table[src[i] as number] as number;
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(buf);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = (src[i] as number) << 16;
      return new Float32Array(out.buffer);
    }
    case 'F64':
    case 'BOOL':
    case 'U8':
    case 'I8':
    case 'U16':
    case 'I16':
    case 'U32':
    case 'I32':
      return Float32Array.from(new NUMBER_VIEWS[t.dtype](buf));
    case 'U64':
      return Float32Array.from(new BigUint64Array(buf), (v) => Number(v));
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), (v) => Number(v));
    case 'F8_E4M3':
    case 'F8_E5M2':
    case 'F8_E8M0':
    case 'F8_E4M3FNUZ':
    case 'F8_E5M2FNUZ': {
      let table = f8Tables.get(t.dtype);
      if (!table) f8Tables.set(t.dtype, (table = f8Table(t.dtype)));
      const src = new Uint8Array(buf);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i] as number] as number;
      return out;
    }
    case 'F4':
    case 'F6_E2M3':
    case 'F6_E3M2':
    case 'C64':
      throw new CheckpointError(`cannot convert dtype ${t.dtype} to float32`, undefined, name);
  }
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN, as torch does. */
export function f32ToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> IEEE half bits, round to nearest even, overflow to infinity, subnormals kept. */
export function f32ToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000; // implicit 1
    const shift = 14 - e; // 24-bit significand down to the subnormal's 10 bits
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r; // r may carry into the exponent field: 0x400 is the smallest normal, correctly
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry may reach 0x7c00 = infinity, correctly
  return sign | r;
}

/** Encodes float32 values as F32, F16 or BF16 (round to nearest even). */
export function fromFloat32(data: Float32Array, shape: readonly number[], dtype: 'F32' | 'F16' | 'BF16'): HostTensor {
  const n = numElements(shape);
  if (n !== data.length) throw new CheckpointError(`shape [${shape.join(', ')}] has ${n} elements, data has ${data.length}`);
  if (dtype === 'F32') return { dtype, shape: [...shape], data: new Uint8Array(data.slice().buffer) };
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(n);
  const conv = dtype === 'BF16' ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < n; i++) out[i] = conv(bits[i] as number);
  return { dtype, shape: [...shape], data: new Uint8Array(out.buffer) };
}
