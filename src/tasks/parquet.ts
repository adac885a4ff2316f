/**
 * Reads Hugging Face Hub parquet exports (e.g. `glue/rte/validation.parquet`) with hyparquet.
 * The Hub writes the `datasets` features into the `huggingface` key-value metadata; ClassLabel
 * names come from there, so label ids are mapped by name rather than trusted blindly.
 */
import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { DataFileError } from '../errors.js';

export type ParquetValue = string | number | bigint | boolean | null;

export interface ParquetTable {
  readonly file: string;
  readonly numRows: number;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, ParquetValue>>[];
  /** ClassLabel names per column, from the `huggingface` metadata (absent for plain parquet). */
  readonly classNames: ReadonlyMap<string, readonly string[]>;
}

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

export async function readParquet(file: string): Promise<ParquetTable> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new DataFileError(`cannot read: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  const n = buf.length;
  const hasMagic = (at: number) => n >= 8 && MAGIC.every((b, i) => buf[at + i] === b);
  if (!hasMagic(0) || !hasMagic(n - 4)) throw new DataFileError('not a parquet file (missing PAR1 magic at start or end)', file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + n) as ArrayBuffer;
  try {
    const md = parquetMetadata(ab);
    const columns = md.schema.slice(1).map((s) => s.name);
    const rows = (await parquetReadObjects({ file: ab })) as Record<string, ParquetValue>[];
    if (rows.length !== Number(md.num_rows)) {
      throw new DataFileError(`footer says ${md.num_rows} rows, read ${rows.length}`, file);
    }
    const hf = md.key_value_metadata?.find((kv) => kv.key === 'huggingface')?.value;
    return { file, numRows: rows.length, columns, rows, classNames: hf ? classLabelNames(hf, file) : new Map() };
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    throw new DataFileError(`unreadable parquet: ${(err as Error).message}`, file, undefined, { cause: err });
  }
}

/** `{"info": {"features": {"label": {"names": [...], "_type": "ClassLabel"}}}}` -> label -> names. */
function classLabelNames(json: string, file: string): Map<string, readonly string[]> {
  let meta: unknown;
  try {
    meta = JSON.parse(json);
  } catch (err) {
    throw new DataFileError(`invalid 'huggingface' metadata JSON: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  const out = new Map<string, readonly string[]>();
  const features = (meta as { info?: { features?: unknown } } | null)?.info?.features;
  if (features === null || typeof features !== 'object') return out;
  for (const [col, f] of Object.entries(features as Record<string, unknown>)) {
    const feat = f as { _type?: unknown; names?: unknown };
    if (feat?._type === 'ClassLabel' && Array.isArray(feat.names) && feat.names.every((x) => typeof x === 'string')) {
      out.set(col, feat.names as string[]);
    }
  }
  return out;
}
