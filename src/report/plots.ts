/**
 * Pure Vega-Lite spec builders. Every spec is a Vega-Lite **v5** source spec with its data inlined:
 * JupyterLab and VS Code render `application/vnd.vegalite.v5+json` (they embed vega-lite 5), no
 * frontend renders v6, and committed notebooks must not point at files or URLs.
 */
import type { TopLevelSpec } from 'vega-lite';

export const VEGA_LITE_V5_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** A Vega-Lite source spec as we emit it: v5 `$schema`, `data.values` inlined. */
export type ChartSpec = TopLevelSpec & { $schema: string };

export type Row = Readonly<Record<string, string | number | boolean | null>>;

export interface ChartSize {
  readonly width?: number;
  readonly height?: number;
  readonly title?: string;
}

function base(values: readonly Row[], size: ChartSize, defaults: { width: number; height: number }): Record<string, unknown> {
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    ...(size.title ? { title: size.title } : {}),
    width: size.width ?? defaults.width,
    height: size.height ?? defaults.height,
    data: { values: values.map((r) => ({ ...r })) },
  };
}

/** One point of a training curve: `series` distinguishes e.g. train/dev loss or runs. */
export interface CurvePoint {
  readonly step: number;
  readonly value: number;
  readonly series?: string;
}

/** Training curves: value vs step, one coloured line per series. */
export function trainingCurve(points: readonly CurvePoint[], opts: ChartSize & { metric?: string } = {}): ChartSpec {
  const metric = opts.metric ?? 'loss';
  const rows = points.map((p) => ({ step: p.step, [metric]: p.value, series: p.series ?? metric }));
  return {
    ...base(rows, opts, { width: 420, height: 240 }),
    mark: { type: 'line', point: rows.length <= 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: metric, type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
      tooltip: [{ field: 'series' }, { field: 'step' }, { field: metric, format: '.4f' }],
    },
  } as ChartSpec;
}

/**
 * Confusion matrix as a heatmap with counts. `matrix[i][j]` = examples with gold label i predicted j
 * (rows: gold G, columns: predicted P), `labels` names both axes in that order.
 */
export function confusionMatrix(matrix: readonly (readonly number[])[], labels: readonly string[], opts: ChartSize = {}): ChartSpec {
  if (matrix.length !== labels.length || matrix.some((r) => r.length !== labels.length)) {
    throw new RangeError(`confusion matrix must be ${labels.length}x${labels.length} to match its labels`);
  }
  const rows: Row[] = [];
  matrix.forEach((r, i) => r.forEach((count, j) => rows.push({ gold: labels[i]!, predicted: labels[j]!, count })));
  const side = Math.max(120, 60 * labels.length);
  const order = [...labels];
  return {
    ...base(rows, opts, { width: side, height: side }),
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted' },
      y: { field: 'gold', type: 'nominal', sort: order, title: 'gold' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'count' } },
      },
      { mark: { type: 'text', fontSize: 13 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  } as ChartSpec;
}

export interface AblationResult {
  /** Variant name, e.g. "mean pooling, dropout 0.1". */
  readonly variant: string;
  /** Metric value (accuracy, F1, MRR@10, ...). */
  readonly value: number;
  /** Optional grouping (task), drawn as facet columns' colour. */
  readonly group?: string;
}

/** Horizontal bars, one per ablation variant, sorted by value; `group` colours bars (e.g. per task). */
export function ablationBars(results: readonly AblationResult[], opts: ChartSize & { metric?: string } = {}): ChartSpec {
  const metric = opts.metric ?? 'score';
  const rows = results.map((r) => ({ variant: r.variant, [metric]: r.value, group: r.group ?? '' }));
  const grouped = results.some((r) => r.group !== undefined);
  return {
    ...base(rows, opts, { width: 360, height: Math.max(80, 22 * rows.length) }),
    mark: 'bar',
    encoding: {
      y: { field: 'variant', type: 'nominal', sort: '-x', title: null },
      x: { field: metric, type: 'quantitative', title: metric },
      ...(grouped ? { color: { field: 'group', type: 'nominal', title: null }, yOffset: { field: 'group' } } : {}),
      tooltip: [{ field: 'variant' }, ...(grouped ? [{ field: 'group' }] : []), { field: metric, format: '.4f' }],
    },
  } as ChartSpec;
}

/** Plain bar chart of `y` per category `x` (e.g. label counts of a dataset split). */
export function barChart(rows: readonly Row[], x: string, y: string, opts: ChartSize & { color?: string } = {}): ChartSpec {
  return {
    ...base(rows, opts, { width: 360, height: 200 }),
    mark: 'bar',
    encoding: {
      x: { field: x, type: 'nominal', title: x, sort: null },
      y: { field: y, type: 'quantitative', title: y },
      ...(opts.color ? { color: { field: opts.color, type: 'nominal' } } : {}),
      tooltip: [{ field: x }, { field: y }, ...(opts.color ? [{ field: opts.color }] : [])],
    },
  } as ChartSpec;
}

/** Short description for the `text/plain` part of a chart bundle. */
export function describeChart(spec: ChartSpec): string {
  const s = spec as unknown as { mark?: unknown; layer?: { mark?: unknown }[]; data?: { values?: unknown[] }; title?: unknown };
  const markOf = (m: unknown): string => (typeof m === 'string' ? m : ((m as { type?: string } | undefined)?.type ?? '?'));
  const marks = s.layer ? s.layer.map((l) => markOf(l.mark)).join('+') : markOf(s.mark);
  const n = s.data?.values?.length ?? 0;
  const title = typeof s.title === 'string' ? ` "${s.title}"` : '';
  return `<Vega-Lite ${marks} chart${title}, ${n} rows>`;
}
