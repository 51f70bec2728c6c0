// One time-series chart (uPlot, bundled by Vite: nothing fetched from elsewhere), as wide as its
// box and redrawn when the box changes width. A canvas says nothing to a screen reader: the figure
// carries a one-line summary as its label.

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly color: string;
  /** Which axis: left or right. */
  readonly side: 'left' | 'right';
  readonly format: (value: number) => string;
}

export function Chart(props: {
  readonly title: string;
  readonly summary: string;
  /** Seconds since 1970, ascending. */
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const size = () => ({ width: Math.max(element.clientWidth, 200), height: 220 });
    const scale = (side: 'left' | 'right') => (side === 'left' ? 'y' : 'y2');
    const plot = new uPlot(
      {
        ...size(),
        series: [
          { label: 'time' },
          ...props.series.map((series) => ({
            label: series.label,
            scale: scale(series.side),
            stroke: series.color,
            width: 2,
            points: { show: true, size: 6 },
            value: (_plot: uPlot, value: number | null) => (value === null ? '-' : series.format(value)),
          })),
        ],
        axes: [
          { stroke: '#57606a' },
          ...props.series.map((series, i) => ({
            scale: scale(series.side),
            side: series.side === 'left' ? 3 : 1,
            stroke: series.color,
            size: 80,
            grid: { show: i === 0 },
            values: (_plot: uPlot, splits: number[]) => splits.map((split) => series.format(split)),
          })),
        ],
        scales: { x: { time: true } },
      },
      [[...props.times], ...props.series.map((series) => [...series.values])] as uPlot.AlignedData,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize(size()));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.times, props.series]);
  return (
    <figure class="chart" role="img" aria-label={`${props.title}: ${props.summary}`}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} aria-hidden="true" />
    </figure>
  );
}
