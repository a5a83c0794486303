/**
 * A Vega-Lite chart (vega-embed) drawn as SVG under the dashboard's strict Content-Security-Policy: vega's
 * expressions are run by vega-interpreter (no `new Function`, so no 'unsafe-eval'); no tooltip or actions
 * menu, whose stylesheets would be inline <style> elements.
 */
import { useEffect, useRef } from 'preact/hooks';
import embed, { type VisualizationSpec } from 'vega-embed';
import { expressionInterpreter } from 'vega-interpreter';

export function Chart({ spec, label }: { spec: VisualizationSpec; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    let result: { finalize(): void } | null = null;
    let cancelled = false;
    embed(el.current, spec, {
      renderer: 'svg',
      actions: false,
      tooltip: false,
      defaultStyle: false,
      ast: true,
      expr: expressionInterpreter,
    } as never)
      .then((r) => {
        if (cancelled) r.finalize();
        else result = r;
      })
      .catch((e) => {
        if (el.current) el.current.textContent = `chart failed: ${(e as Error).message}`;
      });
    return () => {
      cancelled = true;
      result?.finalize();
    };
  }, [JSON.stringify(spec)]);
  return (
    <figure class="chart">
      <div ref={el} role="img" aria-label={label} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}

/** Common look of every chart. */
export const chartConfig = {
  config: {
    font: 'system-ui, sans-serif',
    axis: { labelFontSize: 12, titleFontSize: 12 },
    legend: { labelFontSize: 12, titleFontSize: 12 },
    view: { stroke: '#ccc' },
  },
};
