// Apache ECharts with only what the pages draw: line and bar charts on a canvas, with a grid,
// a tooltip and a legend. Tooltips are drawn on the canvas too (renderMode "richText"): no
// HTML from the data, and no inline style attributes for the page's strict CSP to refuse.

import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

export interface Chart {
  /** Draw the option (replacing the previous one). */
  show(option: ChartOption): void;
  dispose(): void;
}

/** A chart in el, drawn once el has a size and resized with it; dispose when leaving. */
export function chart(el: HTMLElement): Chart {
  let instance: echarts.ECharts | null = null;
  let pending: ChartOption | null = null;
  const draw = () => {
    if (!pending || el.clientWidth === 0 || el.clientHeight === 0) return;
    instance ??= echarts.init(el, undefined, { renderer: "canvas", locale: "ZH" });
    instance.setOption(pending, { notMerge: true });
    pending = null;
  };
  const resize = new ResizeObserver(() => {
    draw();
    instance?.resize();
  });
  resize.observe(el);
  return {
    show(option) {
      pending = option;
      draw();
    },
    dispose() {
      resize.disconnect();
      instance?.dispose();
      instance = null;
    },
  };
}

export const TOOLTIP = { renderMode: "richText", confine: true } as const;
export const PALETTE = ["#1f5fa8", "#2f855a", "#e8590c", "#7b4bd1", "#d11a2a"];
